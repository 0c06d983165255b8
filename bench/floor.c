/*
 * The hardware's floor for "decrypt a Vonage archive from the page cache" (bench/run.js, case
 * "floor"): no Node, no checks, no output — two threads (one per core) claim 1 MiB CBC ranges of a
 * read-only mapping of the archive from one atomic counter and decrypt each out of place into a
 * buffer of their own (a range's IV is the ciphertext block before it), giving its pages back after
 * (MADV_DONTNEED), as the native core does. Built by bench/run.js with the system's libcrypto (the
 * same OpenSSL as the `openssl` command line); prints the plaintext bytes so the run can be checked.
 *
 *   floor ARCHIVE KEY_HEX IV_HEX THREADS
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RANGE (1024 * 1024)

static const unsigned char *mapping;
static size_t size;
static unsigned char key[32], iv[16];
static atomic_size_t next_range;
static atomic_size_t plaintext_bytes;

static int hex(const char *text, unsigned char *out, size_t n) {
  if (strlen(text) != 2 * n) return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned int byte;
    if (sscanf(text + 2 * i, "%2x", &byte) != 1) return -1;
    out[i] = (unsigned char)byte;
  }
  return 0;
}

static void *work(void *unused) {
  (void)unused;
  unsigned char *out = aligned_alloc(4096, RANGE + 16);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!out || !ctx) abort();
  for (;;) {
    size_t offset = atomic_fetch_add(&next_range, 1) * (size_t)RANGE;
    if (offset >= size) break;
    size_t length = size - offset < RANGE ? size - offset : RANGE;
    int written = 0;
    if (!EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, offset == 0 ? iv : mapping + offset - 16)) abort();
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    if (!EVP_DecryptUpdate(ctx, out, &written, mapping + offset, (int)length)) abort();
    size_t kept = (size_t)written;
    if (offset + length == size && kept > 0) kept -= out[kept - 1] <= 16 ? out[kept - 1] : 0; /* PKCS#7 */
    atomic_fetch_add(&plaintext_bytes, kept);
    size_t page = offset >= RANGE ? offset - RANGE : 0; /* with the range before: its last page is this one's IV */
    madvise((void *)(mapping + page), offset + length - page, MADV_DONTNEED);
  }
  EVP_CIPHER_CTX_free(ctx);
  free(out);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5 || hex(argv[2], key, 32) || hex(argv[3], iv, 16)) {
    fprintf(stderr, "usage: floor ARCHIVE KEY_HEX IV_HEX THREADS\n");
    return 2;
  }
  int fd = open(argv[1], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) || st.st_size == 0 || st.st_size % 16) {
    fprintf(stderr, "floor: %s: not a non-empty file of whole blocks\n", argv[1]);
    return 2;
  }
  size = (size_t)st.st_size;
  mapping = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
  if (mapping == MAP_FAILED) return 3;
  int threads = atoi(argv[4]);
  if (threads < 1 || threads > 64) return 2;
  pthread_t ids[64];
  for (int i = 0; i < threads; i++) pthread_create(&ids[i], NULL, work, NULL);
  for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
  printf("%zu\n", atomic_load(&plaintext_bytes));
  return 0;
}
