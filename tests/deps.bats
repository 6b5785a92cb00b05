#!/usr/bin/env bats
# scripts/deps.sh: the quick start's installer says what it cannot do.
load helpers

# A PATH of fakes: dpkg-query says zstd is missing (every other package
# installed), id says this is no root, and no sudo is found.
fake_path() {
    mkdir -p fake
    printf '#!/bin/sh\nfor a; do last=$a; done\n[ "$last" = zstd ] && exit 1\nprintf "install ok installed"\n' > fake/dpkg-query
    printf '#!/bin/sh\necho 1000\n' > fake/id
    chmod +x fake/dpkg-query fake/id
    for t in bash grep env; do ln -sf "$(command -v "$t")" fake/"$t"; done
}

@test "deps.sh: not root and no sudo is a clear error naming the packages" {
    fake_path
    # it stopped with "sudo: command not found" (exit 127)
    run env PATH="$PWD/fake" bash "$PIC_ROOT/scripts/deps.sh"
    fails_with 1 "^deps: missing Debian packages, and not root with no sudo to install them: as root, run apt-get install zstd"
    run env PATH="$PWD/fake" bash "$PIC_ROOT/scripts/deps.sh" --check
    fails_with 1 "^deps: missing Debian packages: zstd"
}
