#!/usr/bin/env bash
# Installs everything vidx needs on Debian 12 and builds the FAISS C API library.
#
# Idempotent: packages already present are not reinstalled, and the FAISS C API is
# built once into a cache folder outside the repository (VIDX_CACHE, default
# ~/.cache/vidx) that later runs and clean clones reuse. A second run takes seconds.
set -euo pipefail

cache="${VIDX_CACHE:-$HOME/.cache/vidx}"

packages=(
  build-essential cmake pkg-config dpkg-dev git ca-certificates curl
  libfaiss-dev libopenblas-dev liblapack-dev
  libdnnl-dev   # oneDNN: the encoder's BF16 and INT8 matrix products
  libxapian-dev # Xapian: the lexical index over titles, descriptions, tags and subtitles
  libleveldb-dev libevent-dev libxxhash-dev libjansson-dev libpcre2-dev zlib1g-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libavfilter-dev ffmpeg
  clang libclang-rt-14-dev libomp-dev python3 wrk
  nats-server libnats-dev   # cluster mode (NATS JetStream) and its tests
  libssl-dev    # HMAC-SHA256 for per-user tokens (api/access.c)
  chromium   # the web page's browser test (driven by playwright-core from npm)
  fonts-wqy-microhei # a Chinese font, so the page in Chinese shows its characters in that test
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

say() { printf 'setup: %s\n' "$*"; }

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
else
  say "Debian packages present"
fi

# --- Node.js and playwright-core (browser test of the web page) ----------------------------
# Debian's nodejs + npm unless a Node.js with npm is already installed (another nodejs
# package, e.g. NodeSource's, bundles npm and conflicts with Debian's npm package).
if ! command -v npm >/dev/null 2>&1; then
  say "installing nodejs npm"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq nodejs npm >/dev/null
fi
playwright_version=1.49.1 # drives Debian's Chromium over CDP; works on Node 18 (Debian 12) and later
node_dir="$cache/node"
if [ "$(cat "$node_dir/node_modules/playwright-core/package.json" 2>/dev/null |
        sed -n 's/^  "version": "\(.*\)",$/\1/p')" != "$playwright_version" ]; then
  say "installing playwright-core $playwright_version into $node_dir"
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --no-audit --no-fund --silent --no-save "playwright-core@$playwright_version" >/dev/null)
else
  say "playwright-core $playwright_version present in $node_dir"
fi

# --- FAISS --------------------------------------------------------------------------------
# Debian's libfaiss-dev ships the C API headers but not the library, and its libfaiss is a
# generic build (scalar distances). Build both from Debian's own source package, once per
# version: libfaiss_avx2 (FAISS_OPT_LEVEL=avx2: FAISS's SIMD distance kernels) and the C API
# (libfaiss_c). ann/README.md says what the SIMD build changed.
faiss_version=$(dpkg-query -W -f='${Version}' libfaiss-dev)
faiss_c="$cache/faiss-c"
stamp="$faiss_c/VERSION"
want="$faiss_version avx2"
if [ -f "$faiss_c/lib/libfaiss_c.a" ] && [ -f "$faiss_c/lib/libfaiss_avx2.a" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  say "FAISS $faiss_version (AVX2 build and C API) cached in $faiss_c"
  exit 0
fi

say "building FAISS $faiss_version (AVX2) and its C API into $faiss_c (a few minutes)"
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null &&
   ! grep -qs '^deb-src' /etc/apt/sources.list 2>/dev/null; then
  say "enabling Debian source packages (deb-src)"
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
    "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/vidx-deb-src.sources >/dev/null
  "${sudo_cmd[@]}" apt-get update -qq
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get source -qq --download-only "faiss=$faiss_version" >/dev/null 2>&1 ||
   apt-get source -qq --download-only faiss >/dev/null 2>&1)
dsc=$(ls "$work"/faiss_*.dsc | head -n 1)
dpkg-source -x "$dsc" "$work/src" >/dev/null 2>&1

cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DFAISS_OPT_LEVEL=avx2 -DFAISS_ENABLE_GPU=OFF \
  -DFAISS_ENABLE_PYTHON=OFF -DFAISS_ENABLE_C_API=ON -DBUILD_TESTING=OFF -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON >/dev/null
cmake --build "$work/build" --target faiss_avx2 faiss_c -j "$(nproc)" >/dev/null

rm -rf "$faiss_c.tmp"
mkdir -p "$faiss_c.tmp/lib"
cp "$work/build/c_api/libfaiss_c.a" "$work/build/faiss/libfaiss_avx2.a" "$faiss_c.tmp/lib/"
echo "$want" > "$faiss_c.tmp/VERSION"
rm -rf "$faiss_c"
mv "$faiss_c.tmp" "$faiss_c"
say "FAISS ready: $faiss_c/lib/libfaiss_avx2.a, $faiss_c/lib/libfaiss_c.a"
