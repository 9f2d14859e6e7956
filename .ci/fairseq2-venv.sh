#!/usr/bin/env bash
# Build a virtualenv DIR holding a real fairseq2 VERSION (0.8.1 or 0.3.0), enough of it to build
# its asset store from directories (tests/fairseq2_real/ point it at our roots):
#   bash .ci/fairseq2-venv.sh DIR VERSION
# fairseq2 comes without its dependencies (--no-deps), plus exactly the packages that importing
# `fairseq2.assets` needs, at the versions of .ci/fairseq2-constraints.txt. Its native companion
# fairseq2n (a CUDA build) is replaced by a stub defining DOC_MODE = True: the asset code never
# calls native code. Then ASSETCARDS_FAIRSEQ2_PYTHON=DIR/bin/python runs the tests.
set -euo pipefail
if [ "$#" -ne 2 ]; then
  echo "usage: $0 DIR VERSION" >&2
  exit 2
fi
dir="$1"
version="$2"
here="$(cd "$(dirname "$0")" && pwd)"
constraints="$here/fairseq2-constraints.txt"
case "$version" in
  0.8.1) packages=(torch typing_extensions importlib_resources ruamel.yaml packaging
                   huggingface_hub fsspec filelock PyYAML requests urllib3 idna certifi tqdm) ;;
  0.3.0) packages=(torch typing_extensions importlib_resources PyYAML tqdm mypy_extensions
                   importlib_metadata zipp tiktoken sympy mpmath) ;;
  *) echo "$0: fairseq2 0.8.1 and 0.3.0 are supported (their imports are what the constraints" \
          "list), not $version" >&2
     exit 2 ;;
esac
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Only these pins apply (.ci/run exports the main constraints, which pin other releases).
unset PIP_CONSTRAINT
rm -rf "$dir"
python3 -m venv "$dir"
pins="$dir/constraints.txt"
{ cat "$constraints"; echo "fairseq2==$version"; } > "$pins"
# Every name is pinned in the constraints file; -c makes a missing pin visible in review.
"$dir/bin/python" -m pip install -q --no-deps -c "$pins" "fairseq2==$version" "${packages[@]}"
site="$("$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
mkdir -p "$site/fairseq2n"
printf '"""Stand-in for fairseq2'"'"'s native companion: the asset code never calls it."""\nDOC_MODE = True\n' \
  > "$site/fairseq2n/__init__.py"
# The venv's own setuptools is not needed: then every installed package is one of the pins.
"$dir/bin/python" -m pip uninstall -q -y setuptools
"$dir/bin/python" "$here/check_constraints.py" "$pins"
"$dir/bin/python" -W ignore -c 'import fairseq2.assets'
echo "fairseq2 $version ready: ASSETCARDS_FAIRSEQ2_PYTHON=$(cd "$dir" && pwd)/bin/python"
