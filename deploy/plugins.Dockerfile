# A wengert image with your op plugins: the wengert image plus `pip install` of plugin packages
# (distributions that register a `wengert.plugins` entry point; see docs/deploy.md).
# Needs BuildKit (the default builder since Docker 23; DOCKER_BUILDKIT=1 before that).
#
# From a package index (the build context can be any folder; nothing is copied from it):
#   docker build -f deploy/plugins.Dockerfile --build-arg PLUGINS="my-ops==1.2" -t my-wengert deploy
# From local wheels (the build context is a folder of them; CI builds the example plugin so):
#   pip wheel --no-deps --wheel-dir dist/ plugins/examples/wengert-example-ops
#   docker build -f deploy/plugins.Dockerfile --build-arg PLUGINS=wengert-example-ops \
#       --build-arg PIP_NO_INDEX=1 -t wengert-example-ops dist/
#
# The shortest form, in your own repository, is just:
#   FROM wengert:0.1.0
#   USER root
#   RUN pip install --no-cache-dir my-ops==1.2 && wengert verify
#   USER 10001:10001

ARG WENGERT_IMAGE=wengert:latest
FROM ${WENGERT_IMAGE}

# pip requirement specifiers, space-separated.
ARG PLUGINS=wengert-example-ops
# As in deploy/Dockerfile: PIP_NO_INDEX=1 for local wheels only, PIP_INDEX_URL for a mirror.
ARG PIP_NO_INDEX
ARG PIP_INDEX_URL

# The venv is root-owned, so plugins are installed as root; the server still runs as 10001.
# The context is mounted, not copied: local wheels leave no layer behind. After installing,
# every plugin is loaded and verified the way the server does it, so an import error, a bad op
# record, an op name clash or an op failing the derivative checker fails this build rather than
# the rollout, and the verdicts land in the image's verification cache: the server starts
# without checking anything.
USER 0
# hadolint ignore=DL3013
RUN --mount=type=bind,target=/tmp/plugin-wheels \
    pip install --no-cache-dir --disable-pip-version-check --find-links /tmp/plugin-wheels ${PLUGINS} \
    && wengert verify
USER 10001:10001
