# Sourced on the GPU machine by gpu_run.sh and tools/bench/side_by_side.sh:
# unpacks what tools/device/prepare_gpu_run.sh gathered in .devrun/ (the
# programs, compressed; the Debian runtime libraries that machine's image
# lacks, as .deb files: no registry there) and exports the library path.
# Needs $repo (the repository root); sets $run.
run=$repo/.devrun
# The programs were built in /work/main and find the test data there.
if [ "$repo" != /work/main ] && [ ! -e /work/main ]; then mkdir -p /work && ln -s "$repo" /work/main; fi
[ -f "$run/bundle.tar.xz" ] && [ ! -d "$run/bin" ] && tar -C "$run" -xJf "$run/bundle.tar.xz"
sys=/tmp/ql-sysroot
mkdir -p "$sys"
for deb in "$run"/debs/*.deb; do dpkg -x "$deb" "$sys"; done
libs=$sys/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$run/lib:$libs:$libs/openblas-pthread:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
