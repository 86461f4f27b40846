#!/usr/bin/env bash
# run.sh MODE: builds and runs a separate project that uses csp, from scratch.
#
#   MODE add_subdirectory   the consumer adds csp's source tree with add_subdirectory
#   MODE fetchcontent       the consumer gets it with FetchContent (SOURCE_DIR: no download)
#   MODE find_package       csp is built alone and installed into a prefix first; the consumer
#                           finds that installed package with find_package(csp)
#
# Passes when the consumer's program prints "consumer ok". In the first two modes it also checks
# that csp, as a subproject, built nothing but its library: no tests, benchmarks or examples.
# In find_package mode it checks that the package found is the one just installed.
#
# CTest sets the environment (tests/consumer/CMakeLists.txt); by hand the defaults serve:
#   CSP_SOURCE_DIR          csp's source tree (default: the tree this script is in)
#   CSP_CMAKE, CSP_NINJA    the tools (default: cmake and ninja from PATH)
#   CSP_CXX_COMPILER        the compiler (default: c++)
#   CSP_BUILD_TYPE          the build type (default: Release)
#   CSP_CONSUMER_WORK_DIR   where MODE/ is made afresh (default: a new temporary directory)
set -euo pipefail

mode=${1:-}
case $mode in
  add_subdirectory | fetchcontent | find_package) ;;
  *)
    echo "usage: $0 add_subdirectory|fetchcontent|find_package" >&2
    exit 2
    ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
source_dir=${CSP_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
cmake=${CSP_CMAKE:-cmake}
ninja=${CSP_NINJA:-$(command -v ninja)}
cxx=${CSP_CXX_COMPILER:-c++}
build_type=${CSP_BUILD_TYPE:-Release}
work=${CSP_CONSUMER_WORK_DIR:-$(mktemp -d)}/$mode

fail() {
  echo "consumer $mode: FAILED: $*" >&2
  exit 1
}

# Afresh every time: a stale cache could hide a configure that no longer works.
rm -rf "$work"
mkdir -p "$work"

common=(-G Ninja "-DCMAKE_MAKE_PROGRAM=$ninja" "-DCMAKE_CXX_COMPILER=$cxx"
  "-DCMAKE_BUILD_TYPE=$build_type")
build=$work/build

if [ "$mode" = find_package ]; then
  prefix=$work/prefix
  "$cmake" -S "$source_dir" -B "$work/csp-build" "${common[@]}" "-DCMAKE_INSTALL_PREFIX=$prefix" \
    -DCSP_BUILD_TESTS=OFF -DCSP_BUILD_BENCHMARKS=OFF -DCSP_BUILD_EXAMPLES=OFF
  "$cmake" --build "$work/csp-build"
  "$cmake" --install "$work/csp-build"
  # The package registry could point find_package at some other csp; only the prefix counts.
  "$cmake" -S "$here/find_package" -B "$build" "${common[@]}" "-DCMAKE_PREFIX_PATH=$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  csp_dir=$(sed -n 's/^csp_DIR:PATH=//p' "$build/CMakeCache.txt")
  case $csp_dir in
    "$prefix"/*) ;;
    *) fail "find_package(csp) found '$csp_dir', not the package installed in $prefix" ;;
  esac
else
  "$cmake" -S "$here/$mode" -B "$build" "${common[@]}" "-DCSP_SOURCE_DIR=$source_dir"
fi
"$cmake" --build "$build"

if [ "$mode" != find_package ]; then
  # csp's tests, benchmarks and examples default to on only when csp is the top-level project.
  for option in CSP_BUILD_TESTS CSP_BUILD_BENCHMARKS CSP_BUILD_EXAMPLES; do
    grep -qx "$option:BOOL=OFF" "$build/CMakeCache.txt" ||
      fail "$option is not OFF in a project that uses csp as a subproject"
  done
  # csp's build tree is csp/ (add_subdirectory) or _deps/csp-build/ (FetchContent).
  extra=$("$ninja" -C "$build" -t targets all |
    grep -E '^(csp|_deps/csp-build)/(tests|bench|examples)/' || true)
  [ -z "$extra" ] || fail "csp built more than its library:"$'\n'"$extra"
fi

output=$("$build/app")
[ "$output" = "consumer ok" ] || fail "the program printed '$output', not 'consumer ok'"
echo "consumer $mode: consumer ok"
