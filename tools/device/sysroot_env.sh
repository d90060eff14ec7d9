# shellcheck shell=bash
# Sourced (not run) by the scripts that build QuantLens on the GPU machine, which has no Debian -dev
# packages and no package registry: unpacks the .debs carried in .ext/debs into a sysroot and sets
# what CMake and pkg-config need to find them.
#
#   source tools/device/sysroot_env.sh
#   ql_sysroot_setup REPO [SYSROOT]      # dpkg -x every .deb; exports PKG_CONFIG_*, PATH (CUDA),
#                                        # QL_SYSROOT and QL_SYSROOT_LIBS (the run-time library folders)
#   ql_sysroot_cmake_args                # prints -DCMAKE_PREFIX_PATH=... for cmake
#   ql_sysroot_export_ld                 # prepends QL_SYSROOT_LIBS to LD_LIBRARY_PATH (for running
#                                        # what was built: fmt, spdlog, pcre2, utf8proc, OpenBLAS)
#   ql_with_sysroot_libs CMD ARGS...     # runs one command with those libraries, leaving the
#                                        # caller's LD_LIBRARY_PATH alone
# Shared by tools/device/gpu_session.sh-style sessions and tools/export_proof/run_export_proof.sh.

ql_sysroot_setup() {
  local repo=${1:?repository root}
  QL_SYSROOT=${2:-/tmp/ql-sysroot}
  mkdir -p "$QL_SYSROOT"
  local deb n=0
  for deb in "$repo"/.ext/debs/*.deb; do
    [ -e "$deb" ] || { echo "ql_sysroot_setup: no .deb files in $repo/.ext/debs" >&2; return 1; }
    dpkg -x "$deb" "$QL_SYSROOT" || { echo "ql_sysroot_setup: dpkg -x $deb failed" >&2; return 1; }
    n=$((n + 1))
  done
  export QL_SYSROOT
  export PKG_CONFIG_SYSROOT_DIR=$QL_SYSROOT
  # OpenBLAS's .pc and library sit in its flavour folder (Debian's alternatives symlinks are not
  # made by dpkg -x).
  local blas=$QL_SYSROOT/usr/lib/x86_64-linux-gnu/openblas-pthread
  export PKG_CONFIG_PATH=$QL_SYSROOT/usr/lib/x86_64-linux-gnu/pkgconfig:$QL_SYSROOT/usr/share/pkgconfig:$blas/pkgconfig
  export QL_SYSROOT_LIBS=$QL_SYSROOT/usr/lib/x86_64-linux-gnu:$blas
  case ":$PATH:" in *:/usr/local/cuda/bin:*) ;; *) export PATH=/usr/local/cuda/bin:$PATH ;; esac
  echo "sysroot $QL_SYSROOT: $n packages unpacked"
}

ql_sysroot_cmake_args() {
  echo "-DCMAKE_PREFIX_PATH=$QL_SYSROOT/usr"
}

ql_sysroot_export_ld() {
  export LD_LIBRARY_PATH=$QL_SYSROOT_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
}

ql_with_sysroot_libs() {
  LD_LIBRARY_PATH=$QL_SYSROOT_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$@"
}
