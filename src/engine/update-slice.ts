/**
 * Largest slice handed to `decipher.update` / `cipher.update`: each call allocates its output, and
 * small allocations are much faster than large ones (docs/ARCHITECTURE.md §7: 64 KiB 2.6 GB/s, 4 MiB 0.6 GB/s).
 */
export const UPDATE_SLICE = 64 * 1024;
