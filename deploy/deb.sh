#!/usr/bin/env bash
# make deb: the Debian package of workflowd, .build-deb/workflowd_VERSION_ARCH.deb.
#
#   deploy/deb.sh        build (or reuse) the release binary, package it, check it with lintian
#
# The binary: `swift build -c release --static-swift-stdlib` (a no-op when up to date), so it carries the
# Swift runtime and, through the EmbedMigrations plugin, the SQL migrations; `ldd` must name no Swift
# library. The package: that binary stripped (/usr/bin/workflowd), the systemd units of deploy/ (ExecStart
# pointed at /usr/bin), deploy/workflowd.env.example as the conffile /etc/workflowd/workflowd.env (0600),
# nginx/workflowd.conf as the conffile /etc/nginx/sites-available/workflowd (not enabled), the web console's
# static files (console/) in /usr/share/workflowd/console (the site's `root` for /), the maintainer
# scripts and control file of deploy/debian/, Depends from dpkg-shlibdeps. The version is the binary's own
# (`workflowd --version`). lintian errors fail the build; its warnings are either fixed or overridden with
# the reason in deploy/debian/workflowd.lintian-overrides.
#
# Installs what it needs (the build's libfcgi-dev, libpq-dev and pkg-config; dpkg-dev, binutils, lintian)
# with apt-get when missing. Prints the path of the
# .deb on its last line.
set -euo pipefail

cd "$(dirname "$0")/.."
command -v swift >/dev/null 2>&1 || PATH=/opt/swift/usr/bin:$PATH
OUT=.build-deb
die() { echo "deb.sh: error: $*" >&2; exit 1; }
say() { echo "deb.sh: $*" >&2; }

installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }
missing=()
for p in libfcgi-dev libpq-dev pkg-config dpkg-dev binutils lintian; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q >/dev/null
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

say "swift build -c release --static-swift-stdlib (a no-op when up to date)"
swift build -c release --static-swift-stdlib >&2
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)/workflowd
[[ -x $bin ]] || die "$bin was not built"

# The point of the static build: nothing from a Swift toolchain at run time.
libs=$(ldd "$bin")
if grep -Eq 'libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime|/swift/|not found' <<<"$libs"; then
  printf '%s\n' "$libs" >&2
  die "$bin still loads Swift libraries (or misses one); it must be built with --static-swift-stdlib"
fi
# SwiftPM links with RUNPATH $ORIGIN (harmless in /usr/bin, and lintian accepts it); anything else would
# point at a build machine's directories.
if readelf -d "$bin" | grep -E 'R(UN)?PATH' | grep -vq 'path: \[\$ORIGIN\]$'; then
  readelf -d "$bin" | grep -E 'R(UN)?PATH' >&2
  die "$bin searches for libraries outside the system's directories"
fi

version=$("$bin" --version)
arch=$(dpkg --print-architecture)
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "workflowd --version printed '$version', not a Debian version"

# dpkg-shlibdeps and dpkg-gencontrol work on a source tree: debian/control, debian/changelog and the
# package's root in debian/workflowd.
tree=$OUT/tree
root=$tree/debian/workflowd
rm -rf -- "$tree"
mkdir -p "$root/DEBIAN"
cp deploy/debian/control "$tree/debian/control"

# A native package's changelog: the version and the commit it was built from.
if commit=$(git rev-parse --short=12 HEAD 2>/dev/null); then
  date=$(git log -1 --format=%cD HEAD)
  export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}
  built_from="Built from commit $commit."
else
  date=$(date -R)
  built_from="Built outside a git checkout."
fi
maintainer=$(sed -n 's/^Maintainer: //p' deploy/debian/control)
cat >"$tree/debian/changelog" <<EOF
workflowd ($version) bookworm; urgency=medium

  * workflowd $version. $built_from

 -- $maintainer  $date
EOF

install -D -m 0755 "$bin" "$root/usr/bin/workflowd"
# What dh_strip does: debug symbols and notes out (lintian warns on an unstripped binary).
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/usr/bin/workflowd"

for unit in workflowd.service workflowd.socket workflowd@.service workflowd@.socket; do
  sed 's#^ExecStart=/usr/local/bin/workflowd #ExecStart=/usr/bin/workflowd #' "deploy/$unit" >"$tree/$unit"
  install -D -m 0644 "$tree/$unit" "$root/lib/systemd/system/$unit"
done
for unit in workflowd.service workflowd@.service; do
  grep -q '^ExecStart=/usr/bin/workflowd serve$' "$root/lib/systemd/system/$unit" ||
    die "deploy/$unit: no ExecStart=/usr/local/bin/workflowd serve line to point at /usr/bin"
done

# Secrets go into the env file: readable by root only (systemd reads it before dropping privileges).
install -D -m 0600 deploy/workflowd.env.example "$root/etc/workflowd/workflowd.env"
install -D -m 0644 nginx/workflowd.conf "$root/etc/nginx/sites-available/workflowd"
# The web console: static files the site serves at / (root /usr/share/workflowd/console).
(cd console && find . -type f -printf '%P\0') | while IFS= read -r -d '' f; do
  install -D -m 0644 "console/$f" "$root/usr/share/workflowd/console/$f"
done

doc=$root/usr/share/doc/workflowd
install -D -m 0644 deploy/debian/copyright "$doc/copyright"
gzip -9n <"$tree/debian/changelog" >"$doc/changelog.gz"
gzip -9n <docs/operations.md >"$doc/operations.md.gz"
install -D -m 0644 deploy/debian/workflowd.lintian-overrides "$root/usr/share/lintian/overrides/workflowd"

for script in postinst prerm postrm; do
  install -m 0755 "deploy/debian/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find etc -type f -printf '/%p\n' | sort) >"$root/DEBIAN/conffiles"
(cd "$root" && find usr lib -type f -printf '%p\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"

(
  cd "$tree"
  dpkg-shlibdeps -Tdebian/workflowd.substvars debian/workflowd/usr/bin/workflowd
  dpkg-gencontrol -pworkflowd -Pdebian/workflowd -Tdebian/workflowd.substvars
)
# Directories 0755, files as installed above; everything owned by root.
find "$root" -type d -exec chmod 0755 {} +

deb=$OUT/workflowd_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2

say "lintian $deb"
lintian --fail-on error "$deb" >&2 || die "lintian found errors in $deb (above)"

say "built $deb ($(du -h "$deb" | cut -f1); depends: $(dpkg-deb -f "$deb" Depends))"
echo "$deb"
