{
  "targets": [
    {
      "target_name": "archive_crypt",
      "sources": ["archive_crypt.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["OPENSSL_API_COMPAT=30000", "OPENSSL_NO_DEPRECATED"]
    }
  ]
}
