{
  "targets": [
    {
      "target_name": "wshub",
      "sources": ["src/addon.c"],
      "include_dirs": ["<!(node scripts/paths.js include)"],
      "cflags_c": ["-std=c99", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["<!(node scripts/paths.js lib)", "-lpthread", "-ldl", "-lm"],
      "ldflags": ["-Wl,--exclude-libs,ALL", "-Wl,--gc-sections", "-Wl,--strip-debug"]
    }
  ]
}
