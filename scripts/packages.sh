# packages.sh: sourced by the scripts here; installs the Debian packages a step needs.
#
# Only what is missing is installed, so a second run costs a dpkg query and nothing else.
# `apt-get update` runs once, and only when something has to be installed.

ensure_packages() {
  local missing=()
  local package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "csp: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# What building csp and its tests needs on Debian 12.
build_packages=(cmake ninja-build g++ clang libclang-rt-14-dev libgtest-dev libbenchmark-dev
  ca-certificates)

# What the aarch64 preset adds: Debian's cross compiler, qemu-user to run what it builds, and
# GoogleTest's sources (package googletest), built with the cross compiler.
aarch64_packages=(g++-aarch64-linux-gnu qemu-user googletest)
