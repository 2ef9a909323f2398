# segpipe — build, test and demo. `make demo` and `make test` install the system libraries they
# need when they are missing (Debian/Ubuntu, as root or through sudo).

SYSTEM_PACKAGES := libtiff-dev libpng-dev libdnnl-dev pkg-config
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SEGPIPE := .build/release/segpipe

.PHONY: deps build release test demo sample-data corpus-check clean

deps:
	@missing=""; \
	for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) test

# The main job on sample-data/ (pipelines/sample.yml): train a small U-Net for a few minutes,
# predict class maps for the scenes and evaluate them against the masks, all into demo-output/.
demo: release
	$(SEGPIPE) inspect sample-data/images/scene1.tif sample-data/masks/scene1.png
	$(SEGPIPE) run pipelines/sample.yml

# Regenerates sample-data/ byte for byte (see sample-data/README.md).
sample-data: release
	rm -rf sample-data/images sample-data/masks
	$(SEGPIPE) sample-data --out sample-data

# Runs the readers over ../shared/corpus and compares with its expected.tsv (not part of `make test`).
corpus-check: release
	python3 scripts/corpus-check.py ../shared/corpus $(SEGPIPE)

clean:
	rm -rf .build
