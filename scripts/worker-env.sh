# shellcheck shell=bash
# Sourced by the edge Worker scripts: puts the tools setup-tools.sh installs
# on PATH and sets the environment the Worker build and wrangler expect.
# Not executable on its own.

export PATH="$HOME/.cargo/bin:$PATH"
# A Node.js that setup-tools.sh installed from PyPI when the system one was
# missing or older than wrangler needs.
if [ -x "$HOME/.local/share/clipstore/node/bin/node" ]; then
    export PATH="$HOME/.local/share/clipstore/node/bin:$PATH"
fi
# worker-build would download wasm-bindgen from GitHub; use the installed one.
if [ -z "${WASM_BINDGEN_BIN:-}" ] && command -v wasm-bindgen >/dev/null 2>&1; then
    WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
    export WASM_BINDGEN_BIN
fi
# Never phone home from wrangler.
export WRANGLER_SEND_METRICS=false
export WRANGLER_SEND_ERROR_REPORTS=false
# Keep local runs on loopback: no fetch of the `Request.cf` sample object.
export CLOUDFLARE_CF_FETCH_ENABLED=false
export NO_UPDATE_NOTIFIER=1
