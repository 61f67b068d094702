#!/usr/bin/env bash
# The README's "Use from C" example must compile as shown (make test-c).
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
awk '/^## Use from C/ {on=1} on && /^```c$/ {grab=1; next} grab && /^```$/ {exit} grab {print}' README.md > "$dir/chat.c"
test -s "$dir/chat.c"
${CC:-cc} -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Werror -Iinclude "$dir/chat.c" \
  target/debug/libwshub.a -lpthread -ldl -lm -o "$dir/chat"
echo "README C example: compiles and links ($(wc -l < "$dir/chat.c") lines)"
