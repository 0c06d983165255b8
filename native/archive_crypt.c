/*
 * archive-crypt's native core (docs/ENGINE.md, "Native core"): AES-256-CBC, AES-256-CTR, HMAC-SHA256,
 * SHA-256 and MD5 over Node's own bundled OpenSSL, in place on caller memory, plus the Linux
 * O_TMPFILE/linkat pair the file sink commits with.
 *
 * Why in C: node:crypto's update() allocates its output on every call, which costs more than the
 * cipher itself at AES-NI speed. Here every call works on memory the caller owns (Buffers, views of
 * SharedArrayBuffers), allocates nothing, and reuses one context per range or thread: the cipher
 * and digests are fetched once per process (EVP_*_fetch), contexts are made once per archive, and
 * their key schedules are cleansed when freed.
 *
 * N-API only, so one binary serves every Node version; the EVP symbols bind to the `node` binary.
 */
#define _GNU_SOURCE /* O_TMPFILE, MAP_* */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/*
 * Every external this addon hands out starts with its kind, so one passed where another is expected (a
 * mapping given as a context, say) is refused instead of being read as the wrong struct.
 */
typedef enum { EXTERNAL_CONTEXT = 0x61637478, EXTERNAL_MAPPING = 0x616d6170, EXTERNAL_RING = 0x6172696e } external_kind;

/* The struct an external of `kind` made by this addon points to, or NULL after throwing `expected`. */
static void *get_external(napi_env env, napi_value value, external_kind kind, const char *expected) {
  void *pointer = NULL;
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external || napi_get_value_external(env, value, &pointer) != napi_ok || !pointer ||
      *(const external_kind *)pointer != kind) {
    napi_throw_type_error(env, NULL, expected);
    return NULL;
  }
  return pointer;
}

enum context_kind { KIND_CBC_DECRYPT = 0, KIND_CBC_ENCRYPT = 1, KIND_CTR = 2, KIND_HMAC_SHA256 = 3, KIND_SHA256 = 4, KIND_MD5 = 5 };

typedef struct {
  external_kind external;
  int kind;
  EVP_CIPHER_CTX *cipher;
  EVP_MAC_CTX *mac;
  EVP_MD_CTX *digest;
} crypto_context;

/* Fetched once per process: fetching per call is what made the legacy getters slow. */
static EVP_CIPHER *aes_256_cbc;
static EVP_CIPHER *aes_256_ctr;
static EVP_MAC *hmac;
static EVP_MD *sha256;
static EVP_MD *md5;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_algorithms(void) {
  aes_256_cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
  aes_256_ctr = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
  hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  md5 = EVP_MD_fetch(NULL, "MD5", NULL);
}

#define CHECK(call)                                                      \
  do {                                                                   \
    if ((call) != napi_ok) {                                             \
      napi_throw_error(env, NULL, "archive-crypt native: " #call " failed"); \
      return NULL;                                                       \
    }                                                                    \
  } while (0)

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

static napi_value throw_openssl(napi_env env, const char *what) {
  char message[128];
  snprintf(message, sizeof message, "archive-crypt native: %s failed in OpenSSL", what);
  napi_throw_error(env, "ERR_ARCHIVE_CRYPT_NATIVE", message);
  return NULL;
}

/* An Error with errno and syscall set, like Node's own; src/native.ts adds the code (e.g. EEXIST). */
static napi_value throw_errno(napi_env env, int error, const char *syscall) {
  napi_value message, exception, number, name;
  char text[160];
  snprintf(text, sizeof text, "%s: %s", syscall, strerror(error));
  if (napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message) != napi_ok) return NULL;
  if (napi_create_error(env, NULL, message, &exception) != napi_ok) return NULL;
  napi_create_int32(env, error, &number);
  napi_set_named_property(env, exception, "errno", number);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &name);
  napi_set_named_property(env, exception, "syscall", name);
  napi_throw(env, exception);
  return NULL;
}

/* Any TypedArray, DataView or Buffer (also over a SharedArrayBuffer): its bytes. */
static int get_bytes(napi_env env, napi_value value, unsigned char **data, size_t *length) {
  bool is_typed = false, is_view = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok) return 0;
  if (is_typed) {
    napi_typedarray_type type;
    size_t count;
    void *pointer;
    if (napi_get_typedarray_info(env, value, &type, &count, &pointer, NULL, NULL) != napi_ok) return 0;
    size_t element = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: element = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: element = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: element = 8; break;
      default: break;
    }
    *data = pointer;
    *length = count * element;
    return 1;
  }
  if (napi_is_dataview(env, value, &is_view) != napi_ok || !is_view) return 0;
  void *pointer;
  if (napi_get_dataview_info(env, value, length, &pointer, NULL, NULL) != napi_ok) return 0;
  *data = pointer;
  return 1;
}

/*
 * The bytes args[at] names, narrowed by the optional offset args[at+1] and length args[at+2] (so
 * hot loops need no subarray per call). Returns 0 after throwing.
 */
static int get_region(napi_env env, napi_value *args, size_t argc, size_t at, unsigned char **data, size_t *length) {
  if (argc <= at || !get_bytes(env, args[at], data, length)) {
    napi_throw_type_error(env, NULL, "expected a TypedArray, Buffer or DataView");
    return 0;
  }
  double offset = 0;
  napi_valuetype type;
  if (argc > at + 1 && napi_typeof(env, args[at + 1], &type) == napi_ok && type == napi_number) napi_get_value_double(env, args[at + 1], &offset);
  double count = (double)*length - offset;
  if (argc > at + 2 && napi_typeof(env, args[at + 2], &type) == napi_ok && type == napi_number) napi_get_value_double(env, args[at + 2], &count);
  if (!(offset >= 0 && count >= 0 && offset + count <= (double)*length) || offset != (double)(size_t)offset || count != (double)(size_t)count) {
    napi_throw_range_error(env, NULL, "offset and length must lie within the buffer");
    return 0;
  }
  *data += (size_t)offset;
  *length = (size_t)count;
  return 1;
}

static void free_context(crypto_context *context) {
  /* The _free functions cleanse the key schedules and MAC state before releasing them. */
  EVP_CIPHER_CTX_free(context->cipher);
  EVP_MAC_CTX_free(context->mac);
  EVP_MD_CTX_free(context->digest);
  context->cipher = NULL;
  context->mac = NULL;
  context->digest = NULL;
}

static void finalize_context(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free_context(data);
  OPENSSL_cleanse(data, sizeof(crypto_context));
  OPENSSL_free(data);
}

static crypto_context *get_context(napi_env env, napi_value value, int want_cipher) {
  crypto_context *context = get_external(env, value, EXTERNAL_CONTEXT, "expected a context made by this addon");
  if (!context) return NULL;
  int is_cipher = context->kind <= KIND_CTR;
  if (want_cipher >= 0 && is_cipher != want_cipher) {
    napi_throw_type_error(env, NULL, want_cipher ? "expected a cipher context" : "expected a MAC or digest context");
    return NULL;
  }
  if (!context->cipher && !context->mac && !context->digest) {
    napi_throw_error(env, "ERR_ARCHIVE_CRYPT_NATIVE_FREED", "archive-crypt native: context already freed");
    return NULL;
  }
  return context;
}

static napi_value wrap_context(napi_env env, crypto_context *context) {
  napi_value result;
  context->external = EXTERNAL_CONTEXT;
  if (napi_create_external(env, context, finalize_context, NULL, &result) != napi_ok) {
    free_context(context);
    OPENSSL_free(context);
    napi_throw_error(env, NULL, "archive-crypt native: cannot create context");
    return NULL;
  }
  return result;
}

/* cipherNew(kind, key[32], iv[16]) → context. CBC runs without padding: the caller handles PKCS#7. */
static napi_value cipher_new(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  int32_t kind = -1;
  if (argc < 3 || napi_get_value_int32(env, args[0], &kind) != napi_ok || kind < KIND_CBC_DECRYPT || kind > KIND_CTR) {
    return throw_type(env, "cipherNew(kind, key, iv): kind must be 0 (CBC decrypt), 1 (CBC encrypt) or 2 (CTR)");
  }
  unsigned char *key, *iv;
  size_t key_length, iv_length;
  if (!get_bytes(env, args[1], &key, &key_length) || !get_bytes(env, args[2], &iv, &iv_length)) return throw_type(env, "key and iv must be byte arrays");
  if (key_length != 32 || iv_length != 16) return throw_range(env, "key must be 32 bytes and iv 16 bytes");
  const EVP_CIPHER *cipher = kind == KIND_CTR ? aes_256_ctr : aes_256_cbc;
  if (!cipher) return throw_openssl(env, "EVP_CIPHER_fetch");
  crypto_context *context = OPENSSL_zalloc(sizeof *context);
  if (!context) return throw_openssl(env, "OPENSSL_zalloc");
  context->kind = kind;
  context->cipher = EVP_CIPHER_CTX_new();
  if (!context->cipher || !EVP_CipherInit_ex2(context->cipher, cipher, key, iv, kind == KIND_CBC_DECRYPT ? 0 : 1, NULL) ||
      !EVP_CIPHER_CTX_set_padding(context->cipher, 0)) {
    free_context(context);
    OPENSSL_free(context);
    return throw_openssl(env, "EVP_CipherInit_ex2");
  }
  return wrap_context(env, context);
}

/* cipherSetIv(context, iv[16]): starts a new range or segment under the same key schedule. */
static napi_value cipher_set_iv(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 2) return throw_type(env, "cipherSetIv(context, iv)");
  crypto_context *context = get_context(env, args[0], 1);
  if (!context) return NULL;
  unsigned char *iv;
  size_t iv_length;
  if (!get_bytes(env, args[1], &iv, &iv_length) || iv_length != 16) return throw_range(env, "iv must be 16 bytes");
  if (!EVP_CipherInit_ex2(context->cipher, NULL, NULL, iv, -1, NULL)) return throw_openssl(env, "EVP_CipherInit_ex2");
  return NULL;
}

/* cipherUpdate(context, data[, offset, length]): transforms the bytes in place (CBC: whole blocks). */
static napi_value cipher_update(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 2) return throw_type(env, "cipherUpdate(context, data[, offset, length])");
  crypto_context *context = get_context(env, args[0], 1);
  if (!context) return NULL;
  unsigned char *data;
  size_t length;
  if (!get_region(env, args, argc, 1, &data, &length)) return NULL;
  /* A partial CBC block would stay buffered inside the context and break the in-place contract. */
  if (context->kind != KIND_CTR && length % 16 != 0) return throw_range(env, "CBC data must be a multiple of 16 bytes");
  while (length > 0) {
    int chunk = length > (size_t)(1 << 30) ? 1 << 30 : (int)length, written = 0;
    if (!EVP_CipherUpdate(context->cipher, data, &written, data, chunk) || written != chunk) return throw_openssl(env, "EVP_CipherUpdate");
    data += chunk;
    length -= (size_t)chunk;
  }
  return NULL;
}

/* hmacNew(key) → HMAC-SHA256 context, ready for the first message. */
static napi_value hmac_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  unsigned char *key;
  size_t key_length;
  if (argc < 1 || !get_bytes(env, args[0], &key, &key_length)) return throw_type(env, "hmacNew(key): key must be a byte array");
  if (!hmac || !sha256) return throw_openssl(env, "EVP_MAC_fetch");
  crypto_context *context = OPENSSL_zalloc(sizeof *context);
  if (!context) return throw_openssl(env, "OPENSSL_zalloc");
  context->kind = KIND_HMAC_SHA256;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0), OSSL_PARAM_construct_end()};
  context->mac = EVP_MAC_CTX_new(hmac);
  if (!context->mac || !EVP_MAC_init(context->mac, key, key_length, params)) {
    free_context(context);
    OPENSSL_free(context);
    return throw_openssl(env, "EVP_MAC_init");
  }
  return wrap_context(env, context);
}

/* hashNew(kind) → SHA-256 (4) or MD5 (5) streaming context. */
static napi_value hash_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  int32_t kind = -1;
  if (argc < 1 || napi_get_value_int32(env, args[0], &kind) != napi_ok || (kind != KIND_SHA256 && kind != KIND_MD5)) {
    return throw_type(env, "hashNew(kind): kind must be 4 (SHA-256) or 5 (MD5)");
  }
  const EVP_MD *md = kind == KIND_SHA256 ? sha256 : md5;
  if (!md) return throw_openssl(env, "EVP_MD_fetch");
  crypto_context *context = OPENSSL_zalloc(sizeof *context);
  if (!context) return throw_openssl(env, "OPENSSL_zalloc");
  context->kind = kind;
  context->digest = EVP_MD_CTX_new();
  if (!context->digest || !EVP_DigestInit_ex2(context->digest, md, NULL)) {
    free_context(context);
    OPENSSL_free(context);
    return throw_openssl(env, "EVP_DigestInit_ex2");
  }
  return wrap_context(env, context);
}

/* digestUpdate(context, data[, offset, length]) for HMAC and hash contexts. */
static napi_value digest_update(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 2) return throw_type(env, "digestUpdate(context, data[, offset, length])");
  crypto_context *context = get_context(env, args[0], 0);
  if (!context) return NULL;
  unsigned char *data;
  size_t length;
  if (!get_region(env, args, argc, 1, &data, &length)) return NULL;
  int ok = context->mac ? EVP_MAC_update(context->mac, data, length) : EVP_DigestUpdate(context->digest, data, length);
  if (!ok) return throw_openssl(env, "digest update");
  return NULL;
}

/*
 * digestFinal(context, out[, offset]) → digest length: writes the MAC or digest into `out` and starts
 * the next message (an HMAC keeps its key), so one context serves every segment of an archive.
 */
static napi_value digest_final(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 2) return throw_type(env, "digestFinal(context, out[, offset])");
  crypto_context *context = get_context(env, args[0], 0);
  if (!context) return NULL;
  unsigned char *out;
  size_t out_length;
  if (!get_region(env, args, argc, 1, &out, &out_length)) return NULL;
  size_t needed = context->kind == KIND_MD5 ? 16 : 32;
  if (out_length < needed) return throw_range(env, "out has no room for the digest");
  if (context->mac) {
    size_t written = 0;
    if (!EVP_MAC_final(context->mac, out, &written, out_length) || !EVP_MAC_init(context->mac, NULL, 0, NULL)) return throw_openssl(env, "EVP_MAC_final");
  } else {
    unsigned int written = 0;
    if (!EVP_DigestFinal_ex(context->digest, out, &written) || !EVP_DigestInit_ex2(context->digest, NULL, NULL)) return throw_openssl(env, "EVP_DigestFinal_ex");
  }
  napi_value result;
  CHECK(napi_create_uint32(env, (uint32_t)needed, &result));
  return result;
}

/* contextFree(context): frees and cleanses now (idempotent); the GC would only do it eventually. */
static napi_value context_free(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 1) return throw_type(env, "contextFree(context)");
  /* Not get_context: freeing twice is allowed. */
  crypto_context *context = get_external(env, args[0], EXTERNAL_CONTEXT, "expected a context made by this addon");
  if (context) free_context(context);
  return NULL;
}


/*
 * File mappings and the SIGBUS guard (docs/ENGINE.md, "Native core"): a local archive is read
 * through a read-only mapping of its page cache pages instead of pread, which copied every byte once
 * more (≈60 ms of CPU per GiB on this machine, the larger part of what decrypting out of a reused
 * window now costs). Memory of a mapping is never handed to JavaScript: an unguarded access to a
 * page past the end of a file that shrank would kill the process with SIGBUS.
 *
 * Every read of mapped memory runs inside a guarded region on its own thread:
 *
 *   sigjmp_buf jump;
 *   if (!GUARD_ENTER(jump)) { fault: guard_fault_offset(mapping) says where; give up the job }
 *   ... read mapping->base[...] ...
 *   guard_leave();
 *
 * The addon's SIGBUS handler (installed once, when the first mapping is made) jumps back to the
 * thread's GUARD_ENTER when that thread faulted inside a guarded region, and otherwise hands the
 * signal to the handler that was there before (or the default action, which ends the process as
 * before). No lock, allocation or JavaScript may run inside a guarded region: it can be left at any
 * instruction. OpenSSL's cipher and digest updates hold neither, and their contexts are freed after.
 */
typedef struct {
  external_kind external;
  unsigned char *base;
  size_t size;
  int jobs; /* async jobs still holding the mapping (main thread only) */
} file_mapping;

static __thread sigjmp_buf *guard_jump;
static __thread uintptr_t guard_fault_address;
static struct sigaction previous_sigbus;
static pthread_once_t sigbus_once = PTHREAD_ONCE_INIT;
static int sigbus_installed;

static void on_sigbus(int signal_number, siginfo_t *info, void *context) {
  sigjmp_buf *jump = guard_jump;
  if (jump) {
    guard_jump = NULL;
    guard_fault_address = (uintptr_t)info->si_addr;
    siglongjmp(*jump, 1);
  }
  if (previous_sigbus.sa_flags & SA_SIGINFO) {
    previous_sigbus.sa_sigaction(signal_number, info, context);
  } else if (previous_sigbus.sa_handler != SIG_IGN && previous_sigbus.sa_handler != SIG_DFL) {
    previous_sigbus.sa_handler(signal_number);
  } else {
    /* Put back what was there: returning re-runs the faulting access, which then ends the process. */
    sigaction(SIGBUS, &previous_sigbus, NULL);
  }
}

static void install_sigbus(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  sigbus_installed = sigaction(SIGBUS, &action, &previous_sigbus) == 0;
}

/* sigsetjmp saves the signal mask, so the jump back also unblocks SIGBUS for the next region. */
#define GUARD_ENTER(jump) (sigsetjmp(jump, 1) == 0 && (guard_jump = &(jump), 1))

static void guard_leave(void) {
  guard_jump = NULL;
}

/* Where in the mapping the last guarded fault of this thread hit (its page's offset). */
static double guard_fault_offset(const file_mapping *mapping) {
  uintptr_t base = (uintptr_t)mapping->base, at = guard_fault_address;
  if (at < base || at >= base + mapping->size) return (double)mapping->size;
  return (double)((at - base) & ~(uintptr_t)4095);
}

static void finalize_mapping(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  file_mapping *mapping = data;
  if (mapping->base) munmap(mapping->base, mapping->size);
  free(mapping);
}

/* The mapping an external made by mapFile names, or NULL after throwing (also once unmapped). */
static file_mapping *get_mapping(napi_env env, napi_value value) {
  file_mapping *mapping = get_external(env, value, EXTERNAL_MAPPING, "expected a mapping made by mapFile");
  if (!mapping) return NULL;
  if (!mapping->base) {
    napi_throw_error(env, "ERR_ARCHIVE_CRYPT_NATIVE_UNMAPPED", "archive-crypt native: mapping already unmapped");
    return NULL;
  }
  return mapping;
}

/*
 * mapFile(fd, size) → mapping: the first `size` bytes (> 0) of the open file `fd`, mapped read-only
 * (MAP_SHARED, never written). Throws a Node-style error (`code` ENODEV for pipes and other files
 * that cannot be mapped, …): then read with pread as before.
 */
static napi_value map_file(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  int32_t fd = -1;
  double size = 0;
  if (argc < 2 || napi_get_value_int32(env, args[0], &fd) != napi_ok || napi_get_value_double(env, args[1], &size) != napi_ok) return throw_type(env, "mapFile(fd, size)");
  if (fd < 0 || !(size > 0) || size != (double)(size_t)size) return throw_range(env, "mapFile: fd must be open and size a positive integer");
  pthread_once(&sigbus_once, install_sigbus);
  if (!sigbus_installed) return throw_errno(env, ENOTSUP, "sigaction");
  void *base = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return throw_errno(env, errno, "mmap");
  file_mapping *mapping = calloc(1, sizeof *mapping);
  if (mapping) mapping->external = EXTERNAL_MAPPING;
  napi_value result;
  if (!mapping || napi_create_external(env, mapping, finalize_mapping, NULL, &result) != napi_ok) {
    munmap(base, (size_t)size);
    free(mapping);
    napi_throw_error(env, NULL, "archive-crypt native: cannot create mapping");
    return NULL;
  }
  mapping->base = base;
  mapping->size = (size_t)size;
  return result;
}

/* unmapFile(mapping): unmaps now (idempotent); refused while an async job still reads it. */
static napi_value unmap_file(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 1) return throw_type(env, "unmapFile(mapping)");
  /* Not get_mapping: unmapping twice is allowed. */
  file_mapping *mapping = get_external(env, args[0], EXTERNAL_MAPPING, "expected a mapping made by mapFile");
  if (!mapping) return NULL;
  if (mapping->jobs > 0) return throw_range(env, "unmapFile: a job still reads the mapping");
  if (mapping->base) munmap(mapping->base, mapping->size);
  mapping->base = NULL;
  return NULL;
}

/*
 * releaseMapped(mapping, offset, length): drops this process's page-table entries for the whole
 * pages of that part (MADV_DONTNEED; the page cache keeps the file). Mapped pages that were read
 * count in the resident set: released behind the work, peak RSS stays flat whatever the size of
 * the archive. A later read of the part just maps the pages again.
 */
static napi_value release_mapped(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 3) return throw_type(env, "releaseMapped(mapping, offset, length)");
  file_mapping *mapping = get_mapping(env, args[0]);
  if (!mapping) return NULL;
  double offset, length;
  if (napi_get_value_double(env, args[1], &offset) != napi_ok || napi_get_value_double(env, args[2], &length) != napi_ok || !(offset >= 0 && length >= 0) ||
      offset + length > (double)mapping->size) {
    return throw_range(env, "releaseMapped: offset and length must lie within the mapping");
  }
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t from = ((size_t)offset + page - 1) / page * page, to = (size_t)(offset + length) == mapping->size ? mapping->size : (size_t)(offset + length) / page * page;
  if (to > from && madvise(mapping->base + from, to - from, MADV_DONTNEED) != 0) return throw_errno(env, errno, "madvise");
  return NULL;
}

/*
 * decryptRanges: the Vonage decrypt loop of docs/ENGINE.md ("Threads") in C, so that no JavaScript
 * runs per range. A window of `count` CBC ranges of `rangeSize` bytes (the last one ends at `end`)
 * lies at `data`; range i is at file position firstPosition + i·rangeSize. With a file descriptor
 * each range is read by position (pread) and its IV is the ciphertext block before it (the archive
 * IV for position 0) — so ranges are independent and two threads can take them from one shared
 * claim counter (an Int32Array over a SharedArrayBuffer, claimed with an atomic add). Without one
 * the window is one range already in memory, decrypted in order from `iv`, and may be hashed.
 * With a mapping (mapFile) in place of the descriptor, range i is decrypted out of place from the
 * mapping into its place in the window (guarded: a file that shrank is reported like a short read),
 * and without claims the ranges run in order on one thread and may be hashed.
 * Every range is decrypted in place in cache-sized slices, and its MPEG-TS sync bytes are checked
 * while the slice is hot. With a callback the job runs as async work on a libuv thread (no worker
 * thread to boot), else on the calling thread.
 */
#define SLICE (256 * 1024)
#define TS_PACKET 188

enum job_error { JOB_OK = 0, JOB_ERRNO = 1, JOB_SHRANK = 2, JOB_OPENSSL = 3 };

/*
 * What keeps an async job's JavaScript values alive until it completes (the memory it works on, its
 * counters, its callback), and the work itself; released once, by release_handles.
 */
typedef struct {
  napi_async_work work;
  napi_ref refs[4];
  napi_ref callback;
} async_handles;

static void release_handles(napi_env env, async_handles *handles) {
  for (size_t i = 0; i < 4; i += 1) {
    if (handles->refs[i]) napi_delete_reference(env, handles->refs[i]);
  }
  if (handles->callback) napi_delete_reference(env, handles->callback);
  if (handles->work) napi_delete_async_work(env, handles->work);
}

/* The callback's error when libuv cancelled the work before it ran. */
static napi_value cancelled_error(napi_env env, const char *message) {
  napi_value text, error = NULL;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, NULL, text, &error);
  return error;
}

/*
 * digestMapped(context, mapping, offset, length[, callback]): digestUpdate over mapped bytes,
 * guarded. Returns -1, or the offset where the file ended (it shrank while mapped; the digest is
 * then unusable). With a callback it runs on a libuv thread and the callback gets (error, that);
 * the caller must not touch the context until then.
 */
typedef struct {
  crypto_context *context;
  file_mapping *mapping;
  size_t offset, length;
  double shrank;
  int ok;
  async_handles async;
} digest_job;

static void run_digest_job(digest_job *job) {
  volatile int ok = 1;
  sigjmp_buf jump;
  job->shrank = -1;
  if (GUARD_ENTER(jump)) {
    const unsigned char *bytes = job->mapping->base + job->offset;
    ok = job->context->mac ? EVP_MAC_update(job->context->mac, bytes, job->length) : EVP_DigestUpdate(job->context->digest, bytes, job->length);
    guard_leave();
  } else {
    job->shrank = guard_fault_offset(job->mapping);
  }
  job->ok = ok;
}

static void free_digest_job(napi_env env, digest_job *job) {
  if (job->async.work) job->mapping->jobs -= 1;
  release_handles(env, &job->async);
  free(job);
}

static void execute_digest_job(napi_env env, void *data) {
  (void)env;
  run_digest_job(data);
}

static void complete_digest_job(napi_env env, napi_status status, void *data) {
  digest_job *job = data;
  napi_value callback, global, args[2];
  if (napi_get_reference_value(env, job->async.callback, &callback) == napi_ok && napi_get_global(env, &global) == napi_ok) {
    napi_get_undefined(env, &args[1]);
    if (status != napi_ok) {
      args[0] = cancelled_error(env, "archive-crypt native: digestMapped was cancelled");
    } else if (!job->ok) {
      args[0] = cancelled_error(env, "archive-crypt native: digest update failed in OpenSSL");
    } else {
      napi_get_null(env, &args[0]);
      napi_create_double(env, job->shrank, &args[1]);
    }
    free_digest_job(env, job);
    napi_call_function(env, global, callback, 2, args, NULL);
    return;
  }
  free_digest_job(env, job);
}

static napi_value digest_mapped(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 4) return throw_type(env, "digestMapped(context, mapping, offset, length[, callback])");
  crypto_context *context = get_context(env, args[0], 0);
  if (!context) return NULL;
  file_mapping *mapping = get_mapping(env, args[1]);
  if (!mapping) return NULL;
  double offset, length;
  if (napi_get_value_double(env, args[2], &offset) != napi_ok || napi_get_value_double(env, args[3], &length) != napi_ok) return throw_type(env, "digestMapped: offset and length must be numbers");
  if (!(offset >= 0 && length >= 0 && offset + length <= (double)mapping->size) || offset != (double)(size_t)offset || length != (double)(size_t)length) {
    return throw_range(env, "digestMapped: offset and length must lie within the mapping");
  }
  digest_job *job = calloc(1, sizeof *job);
  if (!job) return throw_openssl(env, "calloc");
  job->context = context;
  job->mapping = mapping;
  job->offset = (size_t)offset;
  job->length = (size_t)length;
  napi_valuetype type;
  if (argc < 5 || napi_typeof(env, args[4], &type) != napi_ok || type != napi_function) {
    run_digest_job(job);
    double shrank = job->shrank;
    int ok = job->ok;
    free(job);
    if (!ok) return throw_openssl(env, "digest update");
    napi_value result;
    CHECK(napi_create_double(env, shrank, &result));
    return result;
  }
  /* The context and the mapping stay alive until the job completes. */
  napi_value name;
  int failed = napi_create_reference(env, args[0], 1, &job->async.refs[0]) != napi_ok || napi_create_reference(env, args[1], 1, &job->async.refs[1]) != napi_ok ||
               napi_create_reference(env, args[4], 1, &job->async.callback) != napi_ok;
  failed = failed || napi_create_string_utf8(env, "archive-crypt:digestMapped", NAPI_AUTO_LENGTH, &name) != napi_ok ||
           napi_create_async_work(env, NULL, name, execute_digest_job, complete_digest_job, job, &job->async.work) != napi_ok;
  if (!failed) mapping->jobs += 1;
  failed = failed || napi_queue_async_work(env, job->async.work) != napi_ok;
  if (failed) {
    free_digest_job(env, job);
    napi_throw_error(env, NULL, "archive-crypt native: cannot queue digestMapped");
  }
  return NULL;
}

typedef struct {
  unsigned char key[32];
  unsigned char iv[16];
  int fd;
  file_mapping *mapping;
  unsigned char *data;
  size_t range_size;
  uint32_t count;
  double first_position;
  double end;
  int32_t *claims;
  double sync_base;
  EVP_MD_CTX *hash;
  size_t hash_length;
  /* results */
  double first_bad;
  int error;
  int error_number;
  double error_at;
  async_handles async; /* async only */
} range_job;

static int pread_full(int fd, unsigned char *target, size_t length, double position, range_job *job) {
  size_t filled = 0;
  while (filled < length) {
    ssize_t n = pread(fd, target + filled, length - filled, (off_t)position + (off_t)filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      job->error = JOB_ERRNO;
      job->error_number = errno;
      return 0;
    }
    if (n == 0) {
      job->error = JOB_SHRANK;
      job->error_at = position + (double)filled;
      return 0;
    }
    filled += (size_t)n;
  }
  return 1;
}

static void check_sync(range_job *job, const unsigned char *bytes, size_t length, double offset) {
  if (job->sync_base < 0 || job->first_bad >= 0) return;
  size_t first = (size_t)((TS_PACKET - (uint64_t)offset % TS_PACKET) % TS_PACKET);
  for (size_t i = first; i < length; i += TS_PACKET) {
    if (bytes[i] != 0x47) {
      job->first_bad = offset + (double)i;
      return;
    }
  }
}

static void run_range_job(range_job *job) {
  EVP_CIPHER_CTX *cipher = EVP_CIPHER_CTX_new();
  if (!cipher || !EVP_CipherInit_ex2(cipher, aes_256_cbc, job->key, NULL, 0, NULL) || !EVP_CIPHER_CTX_set_padding(cipher, 0)) {
    job->error = JOB_OPENSSL;
    EVP_CIPHER_CTX_free(cipher);
    return;
  }
  unsigned char iv[16];
  const file_mapping *mapping = job->mapping;
  sigjmp_buf jump;
  for (uint32_t next = 0;;) {
    uint32_t i = job->claims ? (uint32_t)__atomic_fetch_add(job->claims, 1, __ATOMIC_SEQ_CST) : next++;
    if (i >= job->count) break;
    /* One guarded region per range: a fault leaves it at any instruction, and ends the job. */
    if (mapping && !GUARD_ENTER(jump)) {
      job->error = JOB_SHRANK;
      job->error_at = guard_fault_offset(job->mapping);
      break;
    }
    double position = job->first_position + (double)i * (double)job->range_size;
    size_t length = job->end - position < (double)job->range_size ? (size_t)(job->end - position) : job->range_size;
    unsigned char *range = job->data + (size_t)i * job->range_size;
    const unsigned char *input = mapping ? mapping->base + (size_t)position : range;
    memcpy(iv, position > 0 && mapping ? input - 16 : job->iv, 16);
    if (job->fd >= 0 && position > 0 && !pread_full(job->fd, iv, 16, position - 16, job)) break;
    if (!EVP_CipherInit_ex2(cipher, NULL, NULL, iv, 0, NULL)) {
      job->error = JOB_OPENSSL;
      break;
    }
    for (size_t at = 0; at < length; at += SLICE) {
      int chunk = (int)(length - at < SLICE ? length - at : SLICE), written = 0;
      /* Read a slice and decrypt it while it is still in this core's cache. */
      if (job->fd >= 0 && !pread_full(job->fd, range + at, (size_t)chunk, position + (double)at, job)) break;
      if (!EVP_CipherUpdate(cipher, range + at, &written, input + at, chunk) || written != chunk) {
        job->error = JOB_OPENSSL;
        break;
      }
      check_sync(job, range + at, (size_t)chunk, job->sync_base + (double)i * (double)job->range_size + (double)at);
      size_t done = (size_t)i * job->range_size + at; /* in order when hashing */
      if (job->hash && done < job->hash_length) {
        size_t hashed = job->hash_length - done < (size_t)chunk ? job->hash_length - done : (size_t)chunk;
        if (!EVP_DigestUpdate(job->hash, range + at, hashed)) job->error = JOB_OPENSSL;
      }
      if (job->error) break;
    }
    if (mapping) guard_leave();
    if (job->error) break;
  }
  /* One thread's failure stops the others' claims too. */
  if (job->error && job->claims) __atomic_store_n(job->claims, (int32_t)job->count, __ATOMIC_SEQ_CST);
  OPENSSL_cleanse(iv, sizeof iv);
  EVP_CIPHER_CTX_free(cipher);
}

static napi_value job_error(napi_env env, range_job *job) {
  napi_value message, error, value;
  char text[160];
  if (job->error == JOB_ERRNO) snprintf(text, sizeof text, "read: %s", strerror(job->error_number));
  else if (job->error == JOB_SHRANK) snprintf(text, sizeof text, "the file ended at byte %.0f, before its planned size", job->error_at);
  else snprintf(text, sizeof text, "archive-crypt native: decryptRanges failed in OpenSSL");
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  if (job->error == JOB_ERRNO) {
    napi_create_int32(env, job->error_number, &value);
    napi_set_named_property(env, error, "errno", value);
    napi_create_string_utf8(env, "read", NAPI_AUTO_LENGTH, &value);
    napi_set_named_property(env, error, "syscall", value);
  }
  if (job->error == JOB_SHRANK) {
    napi_create_double(env, job->error_at, &value);
    napi_set_named_property(env, error, "shrankAt", value);
  }
  return error;
}

static void free_range_job(napi_env env, range_job *job) {
  if (job->mapping && job->async.work) job->mapping->jobs -= 1;
  release_handles(env, &job->async);
  OPENSSL_cleanse(job, sizeof *job);
  OPENSSL_free(job);
}

static void execute_range_job(napi_env env, void *data) {
  (void)env;
  run_range_job(data);
}

static void complete_range_job(napi_env env, napi_status status, void *data) {
  range_job *job = data;
  napi_value callback, global, args[2];
  if (napi_get_reference_value(env, job->async.callback, &callback) == napi_ok && napi_get_global(env, &global) == napi_ok) {
    if (status != napi_ok) {
      args[0] = cancelled_error(env, "archive-crypt native: decryptRanges was cancelled");
      napi_get_undefined(env, &args[1]);
    } else if (job->error) {
      args[0] = job_error(env, job);
      napi_get_undefined(env, &args[1]);
    } else {
      napi_get_null(env, &args[0]);
      napi_create_double(env, job->first_bad, &args[1]);
    }
    free_range_job(env, job);
    napi_call_function(env, global, callback, 2, args, NULL);
    return;
  }
  free_range_job(env, job);
}

/*
 * decryptRanges(key, iv, fd, data, rangeSize, count, firstPosition, end, claims, syncBase, hash,
 * hashLength[, callback]) → first bad sync offset (-1: none), or undefined and callback(error, it).
 */
static napi_value decrypt_ranges(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value args[13];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 12) return throw_type(env, "decryptRanges(key, iv, fd, data, rangeSize, count, firstPosition, end, claims, syncBase, hash, hashLength[, callback])");
  if (!aes_256_cbc) return throw_openssl(env, "EVP_CIPHER_fetch");
  unsigned char *key, *iv, *data;
  size_t key_length, iv_length, data_length;
  if (!get_bytes(env, args[0], &key, &key_length) || !get_bytes(env, args[1], &iv, &iv_length) || key_length != 32 || iv_length != 16) {
    return throw_range(env, "key must be 32 bytes and iv 16 bytes");
  }
  int32_t fd = -1, count;
  double range_size, first_position, end, sync_base, hash_length;
  file_mapping *mapping = NULL;
  napi_valuetype source_type;
  if (napi_typeof(env, args[2], &source_type) != napi_ok) return NULL;
  if (source_type == napi_external && !(mapping = get_mapping(env, args[2]))) return NULL;
  if ((!mapping && napi_get_value_int32(env, args[2], &fd) != napi_ok) || !get_bytes(env, args[3], &data, &data_length) || napi_get_value_double(env, args[4], &range_size) != napi_ok ||
      napi_get_value_int32(env, args[5], &count) != napi_ok || napi_get_value_double(env, args[6], &first_position) != napi_ok ||
      napi_get_value_double(env, args[7], &end) != napi_ok || napi_get_value_double(env, args[9], &sync_base) != napi_ok ||
      napi_get_value_double(env, args[11], &hash_length) != napi_ok) {
    return throw_type(env, "decryptRanges: fd, rangeSize, count, firstPosition, end, syncBase and hashLength must be numbers, data a byte array");
  }
  if (!(range_size >= 16) || (uint64_t)range_size % 16 != 0 || count < 0 || first_position < 0 || (uint64_t)first_position % 16 != 0 ||
      (count > 0 && !(end > first_position + (double)(count - 1) * range_size && end <= first_position + (double)count * range_size)) ||
      (uint64_t)end % 16 != 0 || end - first_position > (double)data_length) {
    return throw_range(env, "decryptRanges: ranges must be whole blocks within data");
  }
  napi_valuetype type;
  int32_t *claims = NULL;
  if (napi_typeof(env, args[8], &type) != napi_ok) return NULL;
  if (type != napi_null && type != napi_undefined) {
    napi_typedarray_type array_type;
    size_t length;
    void *pointer;
    if (napi_get_typedarray_info(env, args[8], &array_type, &length, &pointer, NULL, NULL) != napi_ok || array_type != napi_int32_array || length < 1) {
      return throw_type(env, "decryptRanges: claims must be an Int32Array");
    }
    claims = pointer;
  }
  EVP_MD_CTX *hash = NULL;
  if (napi_typeof(env, args[10], &type) != napi_ok) return NULL;
  if (type != napi_null && type != napi_undefined) {
    crypto_context *context = get_context(env, args[10], 0);
    if (!context) return NULL;
    if (!context->digest) return throw_type(env, "decryptRanges: hash must be a hash context");
    hash = context->digest;
  }
  if (fd < 0 && !mapping && count > 1) return throw_range(env, "decryptRanges: without a file, the window is one range");
  if (mapping && end > (double)mapping->size) return throw_range(env, "decryptRanges: ranges must lie within the mapping");
  if (hash && (claims || fd >= 0 || hash_length < 0 || hash_length > end - first_position)) return throw_range(env, "decryptRanges: a hashed window is one thread's, in order");
  range_job *job = OPENSSL_zalloc(sizeof *job);
  if (!job) return throw_openssl(env, "OPENSSL_zalloc");
  memcpy(job->key, key, 32);
  memcpy(job->iv, iv, 16);
  job->fd = fd;
  job->mapping = mapping;
  job->data = data;
  job->range_size = (size_t)range_size;
  job->count = (uint32_t)count;
  job->first_position = first_position;
  job->end = end;
  job->claims = claims;
  job->sync_base = sync_base;
  job->hash = hash;
  job->hash_length = hash ? (size_t)hash_length : 0;
  job->first_bad = -1;
  if (argc < 13 || napi_typeof(env, args[12], &type) != napi_ok || type != napi_function) {
    run_range_job(job);
    napi_value result = NULL;
    if (job->error) napi_throw(env, job_error(env, job));
    else napi_create_double(env, job->first_bad, &result);
    free_range_job(env, job);
    return result;
  }
  /* The data, claims and hash context stay alive until the job completes. */
  napi_value name;
  int failed = napi_create_reference(env, args[3], 1, &job->async.refs[0]) != napi_ok || napi_create_reference(env, args[12], 1, &job->async.callback) != napi_ok;
  if (!failed && claims) failed = napi_create_reference(env, args[8], 1, &job->async.refs[1]) != napi_ok;
  if (!failed && hash) failed = napi_create_reference(env, args[10], 1, &job->async.refs[2]) != napi_ok;
  if (!failed && mapping) failed = napi_create_reference(env, args[2], 1, &job->async.refs[3]) != napi_ok;
  failed = failed || napi_create_string_utf8(env, "archive-crypt:decryptRanges", NAPI_AUTO_LENGTH, &name) != napi_ok ||
           napi_create_async_work(env, NULL, name, execute_range_job, complete_range_job, job, &job->async.work) != napi_ok;
  /* Held until the job completes: unmapFile refuses meanwhile. */
  if (!failed && mapping) mapping->jobs += 1;
  failed = failed || napi_queue_async_work(env, job->async.work) != napi_ok;
  if (failed) {
    free_range_job(env, job);
    napi_throw_error(env, NULL, "archive-crypt native: cannot queue decryptRanges");
  }
  return NULL;
}

/*
 * sealedRing: the sealed pipelines' segment loop (docs/FORMAT.md §5, docs/ENGINE.md "Threads") in C,
 * so that no JavaScript runs per segment and the second thread is a libuv thread (nothing to boot).
 * The body is `runs` runs of `runInput` input bytes (the last one ends at `end` and may be short, for
 * seal empty); run r's input starts at file position start + r·runInput. A ring of `slots` slots of
 * `slot` bytes lies at `data`; run r is sealed or opened in slot r % slots. Each segment is read by
 * position to inputOffset within its slot and sealed or verified-then-opened while it is in this
 * core's cache:
 *   seal:   C = AES-256-CTR(enc, IV, P), T = HMAC-SHA256(mac, header tag ‖ IV ‖ C), C ‖ T written
 *           from the start of the slot (inputOffset leaves 32 bytes of room per segment);
 *   unseal: T checked (CRYPTO_memcmp) before anything is decrypted; the plaintext of verified
 *           segments packed to the start of the slot; the first failure ends the run.
 * IV = u64 big-endian segment index ‖ last flag ‖ 7 zero bytes; the last run ends the file.
 *
 * Every thread claims the next run from one counter for the whole body (control[0], compare and
 * swap), so neither waits at window boundaries and the faster one takes more; a run may be claimed
 * only while its slot is free (run < control[1] + slots, control[1] = runs the caller has written
 * out). The thread that finished run r stores r + 1 in control[3 + r % slots] (release), after its
 * results: results (Float64Array of 8 per slot): output bytes, failed segment index (-1), failure
 * (0 none, 1 tag, 2 length, 3 final segment missing), 1 when the failed segment is the final one,
 * read error (0 none, 1 errno, 2 the file ended early), errno, where it ended. A failure, or the
 * caller, sets control[2] (stop): no run is claimed after it.
 */
enum sealed_failure { SEALED_OK = 0, SEALED_TAG = 1, SEALED_LENGTH = 2, SEALED_MISSING_FINAL = 3 };
enum { RING_NEXT = 0, RING_RELEASED = 1, RING_STOP = 2, RING_DONE = 3, RESULT_FIELDS = 8 };

typedef struct {
  external_kind external;
  int seal;
  unsigned char keys[96]; /* encryption key, MAC key, header tag */
  int fd;
  unsigned char *data;
  size_t slot, input_offset, run_input, segment_size;
  uint32_t runs, slots;
  double start, end;
  int32_t *control;
  double *results;
  napi_ref refs[3];       /* data, control, results: alive as long as the ring */
  EVP_CIPHER_CTX *cipher; /* the calling thread's contexts, made on its first run */
  EVP_MAC_CTX *mac;
} sealed_ring;

typedef struct {
  sealed_ring *ring;
  int error;
  async_handles async; /* refs[0]: the ring */
} ring_job;

/* A context pair keyed from the ring's keys; 0 when OpenSSL fails (both freed). */
static int ring_contexts(sealed_ring *ring, EVP_CIPHER_CTX **cipher, EVP_MAC_CTX **mac) {
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0), OSSL_PARAM_construct_end()};
  *cipher = EVP_CIPHER_CTX_new();
  *mac = EVP_MAC_CTX_new(hmac);
  if (*cipher && *mac && EVP_CipherInit_ex2(*cipher, aes_256_ctr, ring->keys, NULL, 1, NULL) && EVP_MAC_init(*mac, ring->keys + 32, 32, params)) return 1;
  EVP_CIPHER_CTX_free(*cipher);
  EVP_MAC_CTX_free(*mac);
  *cipher = NULL;
  *mac = NULL;
  return 0;
}

/* Reads length bytes at position; on failure records it in result and returns 0. */
static int ring_pread(sealed_ring *ring, unsigned char *target, size_t length, double position, double *result) {
  size_t filled = 0;
  while (filled < length) {
    ssize_t n = pread(ring->fd, target + filled, length - filled, (off_t)position + (off_t)filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result[4] = JOB_ERRNO;
      result[5] = errno;
      return 0;
    }
    if (n == 0) {
      result[4] = JOB_SHRANK;
      result[6] = position + (double)filled;
      return 0;
    }
    filled += (size_t)n;
  }
  return 1;
}

static void sealed_iv(unsigned char iv[16], double index, int last) {
  uint64_t value = (uint64_t)index;
  for (int b = 7; b >= 0; b -= 1, value >>= 8) iv[b] = (unsigned char)(value & 0xff);
  iv[8] = last ? 1 : 0;
  memset(iv + 9, 0, 7);
}

/* T = HMAC(mac key, header tag ‖ iv ‖ bytes) into tag. */
static int sealed_tag(const sealed_ring *ring, EVP_MAC_CTX *mac, const unsigned char iv[16], const unsigned char *bytes, size_t length, unsigned char tag[32]) {
  size_t written = 0;
  return EVP_MAC_init(mac, NULL, 0, NULL) && EVP_MAC_update(mac, ring->keys + 64, 32) && EVP_MAC_update(mac, iv, 16) && EVP_MAC_update(mac, bytes, length) &&
         EVP_MAC_final(mac, tag, &written, 32);
}

/* Seals or opens run r into its slot; returns 0 when it failed (result says how). */
static int sealed_run(sealed_ring *ring, EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, uint32_t r, double *result) {
  double position = ring->start + (double)r * (double)ring->run_input;
  size_t length = ring->end - position <= 0 ? 0 : ring->end - position < (double)ring->run_input ? (size_t)(ring->end - position) : ring->run_input;
  int final = r == ring->runs - 1;
  unsigned char *slot = ring->data + (size_t)(r % ring->slots) * ring->slot;
  double first = (double)r * (double)(ring->run_input / (ring->seal ? ring->segment_size : ring->segment_size + 32));
  unsigned char iv[16], tag[32];
  int written = 0;
  if (ring->seal) {
    size_t count = final ? length / ring->segment_size + 1 : length / ring->segment_size, out = 0;
    for (size_t j = 0; j < count; j += 1) {
      int last = final && j == count - 1;
      size_t from = ring->input_offset + j * ring->segment_size, n = last ? length - j * ring->segment_size : ring->segment_size;
      if (n > 0 && !ring_pread(ring, slot + from, n, position + (double)(j * ring->segment_size), result)) return 0;
      sealed_iv(iv, first + (double)j, last);
      if (!EVP_CipherInit_ex2(cipher, NULL, NULL, iv, 1, NULL) || (n > 0 && (!EVP_CipherUpdate(cipher, slot + from, &written, slot + from, (int)n) || (size_t)written != n))) {
        result[4] = JOB_OPENSSL;
        return 0;
      }
      if (out != from) memmove(slot + out, slot + from, n);
      if (!sealed_tag(ring, mac, iv, slot + out, n, slot + out + n)) {
        result[4] = JOB_OPENSSL;
        return 0;
      }
      out += n + 32;
    }
    result[0] = (double)out;
    return 1;
  }
  size_t full = ring->segment_size + 32, full_count = length / full, rest = length - full_count * full, count = final ? full_count + 1 : full_count, plain = 0;
  int ok = 1;
  for (size_t j = 0; j < count; j += 1) {
    int last = final && j == full_count;
    size_t start = j * full;
    if (last && rest < 32) {
      result[1] = first + (double)j;
      result[2] = rest == 0 ? SEALED_MISSING_FINAL : SEALED_LENGTH;
      result[3] = 1;
      ok = 0;
      break;
    }
    size_t n = (last ? rest : full) - 32;
    if (!ring_pread(ring, slot + start, n + 32, position + (double)start, result)) {
      ok = 0;
      break;
    }
    sealed_iv(iv, first + (double)j, last);
    if (!sealed_tag(ring, mac, iv, slot + start, n, tag)) {
      result[4] = JOB_OPENSSL;
      ok = 0;
      break;
    }
    /* Constant time, and before any decryption: no plaintext of an unverified segment ever exists. */
    if (CRYPTO_memcmp(tag, slot + start + n, 32) != 0) {
      result[1] = first + (double)j;
      result[2] = SEALED_TAG;
      result[3] = last;
      ok = 0;
      break;
    }
    if (!EVP_CipherInit_ex2(cipher, NULL, NULL, iv, 1, NULL) || (n > 0 && (!EVP_CipherUpdate(cipher, slot + start, &written, slot + start, (int)n) || (size_t)written != n))) {
      result[4] = JOB_OPENSSL;
      ok = 0;
      break;
    }
    if (plain != start) memmove(slot + plain, slot + start, n);
    plain += n;
  }
  result[0] = (double)plain;
  OPENSSL_cleanse(tag, sizeof tag);
  return ok;
}

/* The next run this thread may take: its index, -1 when none is left (or stopped), -2 while the ring is full. */
static int64_t ring_claim(sealed_ring *ring) {
  for (;;) {
    if (__atomic_load_n(&ring->control[RING_STOP], __ATOMIC_ACQUIRE)) return -1;
    int32_t next = __atomic_load_n(&ring->control[RING_NEXT], __ATOMIC_ACQUIRE);
    if ((uint32_t)next >= ring->runs) return -1;
    int32_t released = __atomic_load_n(&ring->control[RING_RELEASED], __ATOMIC_ACQUIRE);
    if ((uint32_t)next >= (uint32_t)released + ring->slots) return -2;
    if (__atomic_compare_exchange_n(&ring->control[RING_NEXT], &next, next + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return next;
  }
}

/* Runs claimed run r and publishes it; a failed run stops further claims. */
static void ring_take(sealed_ring *ring, EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, uint32_t r) {
  double *result = ring->results + RESULT_FIELDS * (size_t)(r % ring->slots);
  result[0] = 0;
  result[1] = -1;
  for (size_t f = 2; f < RESULT_FIELDS; f += 1) result[f] = 0;
  if (!sealed_run(ring, cipher, mac, r, result)) __atomic_store_n(&ring->control[RING_STOP], 1, __ATOMIC_RELEASE);
  __atomic_store_n(&ring->control[RING_DONE + r % ring->slots], (int32_t)r + 1, __ATOMIC_RELEASE);
}

static void nap(unsigned microseconds) {
  struct timespec pause = {0, (long)microseconds * 1000};
  nanosleep(&pause, NULL);
}

static void execute_ring_job(napi_env env, void *data) {
  (void)env;
  ring_job *job = data;
  sealed_ring *ring = job->ring;
  EVP_CIPHER_CTX *cipher;
  EVP_MAC_CTX *mac;
  if (!ring_contexts(ring, &cipher, &mac)) {
    job->error = JOB_OPENSSL;
    return;
  }
  /* While the ring is full (the output is slower than the crypto) poll with a growing pause. */
  for (unsigned pause = 20;;) {
    int64_t r = ring_claim(ring);
    if (r == -1) break;
    if (r == -2) {
      nap(pause);
      pause = pause < 1000 ? pause * 2 : 1000;
      continue;
    }
    pause = 20;
    ring_take(ring, cipher, mac, (uint32_t)r);
  }
  EVP_CIPHER_CTX_free(cipher);
  EVP_MAC_CTX_free(mac);
}

static void complete_ring_job(napi_env env, napi_status status, void *data) {
  ring_job *job = data;
  napi_value callback, global, args[1];
  int called = napi_get_reference_value(env, job->async.callback, &callback) == napi_ok && napi_get_global(env, &global) == napi_ok;
  if (called) {
    if (status != napi_ok) args[0] = cancelled_error(env, "archive-crypt native: sealedRingWork was cancelled");
    else if (job->error) args[0] = cancelled_error(env, "archive-crypt native: sealedRingWork failed in OpenSSL");
    else napi_get_null(env, &args[0]);
  }
  release_handles(env, &job->async);
  OPENSSL_free(job);
  if (called) napi_call_function(env, global, callback, 1, args, NULL);
}

static void free_ring_contents(napi_env env, sealed_ring *ring) {
  for (size_t i = 0; i < 3; i += 1) {
    if (ring->refs[i]) napi_delete_reference(env, ring->refs[i]);
    ring->refs[i] = NULL;
  }
  /* The _free functions cleanse the key schedules. */
  EVP_CIPHER_CTX_free(ring->cipher);
  EVP_MAC_CTX_free(ring->mac);
  ring->cipher = NULL;
  ring->mac = NULL;
  OPENSSL_cleanse(ring->keys, sizeof ring->keys);
  ring->data = NULL;
}

static void finalize_ring(napi_env env, void *data, void *hint) {
  (void)hint;
  free_ring_contents(env, data);
  OPENSSL_cleanse(data, sizeof(sealed_ring));
  OPENSSL_free(data);
}

static sealed_ring *get_ring(napi_env env, napi_value value) {
  sealed_ring *ring = get_external(env, value, EXTERNAL_RING, "expected a ring made by sealedRing");
  if (!ring) return NULL;
  if (!ring->data) {
    napi_throw_error(env, "ERR_ARCHIVE_CRYPT_NATIVE_FREED", "archive-crypt native: ring already freed");
    return NULL;
  }
  return ring;
}

/*
 * sealedRing(seal, keys[96], fd, data, slot, inputOffset, runInput, runs, start, end, segmentSize,
 * control, results) → ring. control: Int32Array of 3 + slots over a SharedArrayBuffer, zeroed.
 */
static napi_value sealed_ring_new(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value args[13];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 13) return throw_type(env, "sealedRing(seal, keys, fd, data, slot, inputOffset, runInput, runs, start, end, segmentSize, control, results)");
  if (!aes_256_ctr || !hmac) return throw_openssl(env, "EVP_CIPHER_fetch");
  bool seal = false;
  unsigned char *keys, *data;
  size_t keys_length, data_length;
  int32_t fd, runs;
  double slot, input_offset, run_input, start, end, segment_size;
  if (napi_get_value_bool(env, args[0], &seal) != napi_ok || !get_bytes(env, args[1], &keys, &keys_length) || keys_length != 96 || napi_get_value_int32(env, args[2], &fd) != napi_ok ||
      !get_bytes(env, args[3], &data, &data_length) || napi_get_value_double(env, args[4], &slot) != napi_ok || napi_get_value_double(env, args[5], &input_offset) != napi_ok ||
      napi_get_value_double(env, args[6], &run_input) != napi_ok || napi_get_value_int32(env, args[7], &runs) != napi_ok || napi_get_value_double(env, args[8], &start) != napi_ok ||
      napi_get_value_double(env, args[9], &end) != napi_ok || napi_get_value_double(env, args[10], &segment_size) != napi_ok) {
    return throw_type(env, "sealedRing: bad argument types (keys must be 96 bytes)");
  }
  napi_typedarray_type type;
  size_t control_length, results_length;
  void *control, *results;
  if (napi_get_typedarray_info(env, args[11], &type, &control_length, &control, NULL, NULL) != napi_ok || type != napi_int32_array || control_length < RING_DONE + 1) {
    return throw_type(env, "sealedRing: control must be an Int32Array of 3 + slots");
  }
  size_t slots = control_length - RING_DONE;
  if (napi_get_typedarray_info(env, args[12], &type, &results_length, &results, NULL, NULL) != napi_ok || type != napi_float64_array || results_length < RESULT_FIELDS * slots) {
    return throw_type(env, "sealedRing: results must be a Float64Array of 8 per slot");
  }
  size_t full = (size_t)segment_size + 32;
  int whole_segments = segment_size >= 1024 && segment_size <= (1 << 24) && run_input > 0 && (uint64_t)run_input % (seal ? (uint64_t)segment_size : (uint64_t)full) == 0;
  if (fd < 0 || runs < 1 || !whole_segments || input_offset + run_input > slot || slot * (double)slots > (double)data_length || (seal && input_offset < run_input / segment_size * 32) ||
      start < 0 || !(end >= start + (double)(runs - 1) * run_input && end <= start + (double)runs * run_input)) {
    return throw_range(env, "sealedRing: runs must be whole segments within data");
  }
  sealed_ring *ring = OPENSSL_zalloc(sizeof *ring);
  if (!ring) return throw_openssl(env, "OPENSSL_zalloc");
  ring->external = EXTERNAL_RING;
  ring->seal = seal;
  memcpy(ring->keys, keys, 96);
  ring->fd = fd;
  ring->data = data;
  ring->slot = (size_t)slot;
  ring->input_offset = (size_t)input_offset;
  ring->run_input = (size_t)run_input;
  ring->segment_size = (size_t)segment_size;
  ring->runs = (uint32_t)runs;
  ring->slots = (uint32_t)slots;
  ring->start = start;
  ring->end = end;
  ring->control = control;
  ring->results = results;
  napi_value result;
  if (napi_create_reference(env, args[3], 1, &ring->refs[0]) != napi_ok || napi_create_reference(env, args[11], 1, &ring->refs[1]) != napi_ok ||
      napi_create_reference(env, args[12], 1, &ring->refs[2]) != napi_ok || napi_create_external(env, ring, finalize_ring, NULL, &result) != napi_ok) {
    free_ring_contents(env, ring);
    OPENSSL_free(ring);
    napi_throw_error(env, NULL, "archive-crypt native: cannot create the ring");
    return NULL;
  }
  return result;
}

/* sealedRingWork(ring, callback): a libuv thread takes runs until none is left; then callback(error). */
static napi_value sealed_ring_work(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2], name;
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  sealed_ring *ring = argc < 2 ? NULL : get_ring(env, args[0]);
  if (!ring) return NULL;
  napi_valuetype type;
  if (napi_typeof(env, args[1], &type) != napi_ok || type != napi_function) return throw_type(env, "sealedRingWork(ring, callback)");
  ring_job *job = OPENSSL_zalloc(sizeof *job);
  if (!job) return throw_openssl(env, "OPENSSL_zalloc");
  job->ring = ring;
  /* The ring (and through it the data, control and results) stays alive until the job completes. */
  int failed = napi_create_reference(env, args[0], 1, &job->async.refs[0]) != napi_ok || napi_create_reference(env, args[1], 1, &job->async.callback) != napi_ok ||
               napi_create_string_utf8(env, "archive-crypt:sealedRing", NAPI_AUTO_LENGTH, &name) != napi_ok ||
               napi_create_async_work(env, NULL, name, execute_ring_job, complete_ring_job, job, &job->async.work) != napi_ok || napi_queue_async_work(env, job->async.work) != napi_ok;
  if (failed) {
    release_handles(env, &job->async);
    OPENSSL_free(job);
    napi_throw_error(env, NULL, "archive-crypt native: cannot queue sealedRingWork");
  }
  return NULL;
}

/*
 * sealedRingRun(ring) → the run this thread took and finished, -1 when none is left to take, -2
 * while the ring is full (the caller writes out, or waits for, the run it needs next).
 */
static napi_value sealed_ring_run(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  sealed_ring *ring = argc < 1 ? NULL : get_ring(env, args[0]);
  if (!ring) return NULL;
  if (!ring->cipher && !ring_contexts(ring, &ring->cipher, &ring->mac)) return throw_openssl(env, "EVP_CipherInit_ex2");
  int64_t r = ring_claim(ring);
  if (r >= 0) ring_take(ring, ring->cipher, ring->mac, (uint32_t)r);
  CHECK(napi_create_double(env, (double)r, &result));
  return result;
}

/*
 * sealedRingWait(ring, run): returns once `run` (claimed by another thread) is finished — at most
 * one run's work away, so a yielding spin, then short naps.
 */
static napi_value sealed_ring_wait(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  sealed_ring *ring = argc < 2 ? NULL : get_ring(env, args[0]);
  if (!ring) return NULL;
  uint32_t run = 0;
  if (napi_get_value_uint32(env, args[1], &run) != napi_ok || run >= ring->runs) return throw_range(env, "sealedRingWait(ring, run): run out of range");
  int32_t next = __atomic_load_n(&ring->control[RING_NEXT], __ATOMIC_ACQUIRE);
  if ((uint32_t)next <= run) return throw_range(env, "sealedRingWait: the run was not claimed");
  for (unsigned spins = 0;; spins += 1) {
    int32_t done = __atomic_load_n(&ring->control[RING_DONE + run % ring->slots], __ATOMIC_ACQUIRE);
    if (done == (int32_t)run + 1) return NULL;
    /* A later run in the slot: the caller released it before writing it out (a bug, not a wait). */
    if (done > (int32_t)run + 1) return throw_range(env, "sealedRingWait: the run's slot was reused before it was written out");
    if (spins < 200) sched_yield();
    else nap(20);
  }
}

/* sealedRingFree(ring): cleanses the keys and frees the contexts now (after the work completed). */
static napi_value sealed_ring_free(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 1) return throw_type(env, "sealedRingFree(ring)");
  /* Not get_ring: freeing twice is allowed. */
  sealed_ring *ring = get_external(env, args[0], EXTERNAL_RING, "expected a ring made by sealedRing");
  if (ring) free_ring_contents(env, ring);
  return NULL;
}

static int get_path(napi_env env, napi_value value, char *path, size_t size) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, path, size, &length) != napi_ok) return 0;
  return length > 0 && length < size - 1;
}

/*
 * openTmpfile(directory) → fd: an unnamed file in `directory` (mode 0600) that vanishes if the
 * process dies before linkTmpfile names it — nothing is left behind, even after SIGKILL.
 */
static napi_value open_tmpfile(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  char path[PATH_MAX];
  if (argc < 1 || !get_path(env, args[0], path, sizeof path)) return throw_type(env, "openTmpfile(directory): directory must be a non-empty path");
#ifdef O_TMPFILE
  int fd = open(path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return throw_errno(env, errno, "open");
  napi_value result;
  CHECK(napi_create_int32(env, fd, &result));
  return result;
#else
  return throw_errno(env, EOPNOTSUPP, "open");
#endif
}

/* linkTmpfile(fd, target): gives the unnamed file its name; never replaces a file (EEXIST). */
static napi_value link_tmpfile(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  int32_t fd = -1;
  char target[PATH_MAX];
  if (argc < 2 || napi_get_value_int32(env, args[0], &fd) != napi_ok || fd < 0 || !get_path(env, args[1], target, sizeof target)) {
    return throw_type(env, "linkTmpfile(fd, target)");
  }
#ifdef O_TMPFILE
  char source[64];
  snprintf(source, sizeof source, "/proc/self/fd/%d", fd);
  if (linkat(AT_FDCWD, source, AT_FDCWD, target, AT_SYMLINK_FOLLOW) != 0) return throw_errno(env, errno, "linkat");
  return NULL;
#else
  return throw_errno(env, EOPNOTSUPP, "linkat");
#endif
}

NAPI_MODULE_INIT() {
  pthread_once(&fetch_once, fetch_algorithms);
  napi_property_descriptor functions[] = {
      {"cipherNew", NULL, cipher_new, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cipherSetIv", NULL, cipher_set_iv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cipherUpdate", NULL, cipher_update, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hmacNew", NULL, hmac_new, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hashNew", NULL, hash_new, NULL, NULL, NULL, napi_enumerable, NULL},
      {"digestUpdate", NULL, digest_update, NULL, NULL, NULL, napi_enumerable, NULL},
      {"digestFinal", NULL, digest_final, NULL, NULL, NULL, napi_enumerable, NULL},
      {"contextFree", NULL, context_free, NULL, NULL, NULL, napi_enumerable, NULL},
      {"decryptRanges", NULL, decrypt_ranges, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mapFile", NULL, map_file, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unmapFile", NULL, unmap_file, NULL, NULL, NULL, napi_enumerable, NULL},
      {"digestMapped", NULL, digest_mapped, NULL, NULL, NULL, napi_enumerable, NULL},
      {"releaseMapped", NULL, release_mapped, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealedRing", NULL, sealed_ring_new, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealedRingWork", NULL, sealed_ring_work, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealedRingRun", NULL, sealed_ring_run, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealedRingWait", NULL, sealed_ring_wait, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealedRingFree", NULL, sealed_ring_free, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openTmpfile", NULL, open_tmpfile, NULL, NULL, NULL, napi_enumerable, NULL},
      {"linkTmpfile", NULL, link_tmpfile, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions) != napi_ok) return NULL;
  return exports;
}
