# Thin wrapper over CMake. `make demo` and `make test` install what they
# need from Debian's packages first (`make deps`), then build.
SANITIZE ?=
# A sanitizer build gets its own tree: make test SANITIZE=address,undefined
BUILD    ?= $(if $(SANITIZE),build-$(subst $(comma),-,$(SANITIZE)),build)
JOBS     ?= $(shell nproc)
CMAKE_FLAGS ?=

comma := ,

APT_PKGS = build-essential cmake pkg-config git \
           libczmq-dev libzmq3-dev libprotobuf-c-dev protobuf-c-compiler \
           librdkafka-dev libjansson-dev libmicrohttpd-dev libcriterion-dev \
           python3 python3-confluent-kafka kcat clang-format clang libclang-rt-14-dev valgrind bc prometheus \
           python3-yaml rustc iproute2 iptables

.PHONY: all deps build demo test unit integration chaos valgrind sanitize-smoke format format-check clean

all: build

deps: kafka-deps helm-deps
	@missing=$$(for p in $(APT_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all packages present"; fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DSLUICE_WERROR=ON -DSLUICE_SANITIZE=$(SANITIZE) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: deps build
	$(BUILD)/bin/sluice demo

test: deps build format-check fuzz-build
	bash tests/run.sh $(BUILD)
	bash tests/fuzz/run.sh $(FUZZ_BUILD) 20
	$(if $(SANITIZE),,bash tests/valgrind/run.sh $(BUILD) 3000)
	$(if $(SANITIZE),,$(MAKE) sanitize-smoke)
	$(if $(SANITIZE),,$(MAKE) k8s-test)

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

integration: build
	cd $(BUILD) && ctest --output-on-failure -L integration

# The long chaos run (tests/chaos/chaos.py; `make test` runs a short one):
# on the embedded broker, then on a real Kafka broker of its own.
CHAOS_ENV = SLUICE_BUILD_DIR=$(abspath $(BUILD)) \
            PYTHONPATH=$(CURDIR)/tests/integration
chaos: deps build
	$(CHAOS_ENV) SLUICE_TEST_BROKER=embedded /usr/bin/python3 \
	    tests/chaos/chaos.py --records 400000 --partitions 16 --workers 6
	$(CHAOS_ENV) SLUICE_TEST_BROKER=kafka /usr/bin/python3 \
	    tests/chaos/chaos.py --records 1000000 --partitions 8 --workers 4

# The unit tests and the integration tests that exercise the most code
# (drain, poison isolation, broker faults, CURVE and hostile peers, key
# order's parked jobs, parts and stops, completion markers and their
# takeover) in an ASan + UBSan tree; `make
# test` runs it, `make test SANITIZE=...` runs the whole suite under the
# sanitizers instead.
SANITIZE_SMOKE = ^(common|scheduler|worker)/|^integration/embedded/(test_drain|test_poison|test_security|test_flood|test_mock_broker_faults|test_key_order|test_state_topic)$$
sanitize-smoke: build-address-undefined/CMakeCache.txt
	cmake --build build-address-undefined -j $(JOBS)
	cd build-address-undefined && ctest -j 2 --output-on-failure \
	    --timeout 300 -R '$(SANITIZE_SMOKE)'

build-address-undefined/CMakeCache.txt:
	cmake -S . -B build-address-undefined -DSLUICE_WERROR=ON \
	    -DSLUICE_SANITIZE=address,undefined $(CMAKE_FLAGS)

# A drain with both daemons under valgrind memcheck (make test runs it too,
# except in sanitizer builds).
valgrind: deps build
	bash tests/valgrind/run.sh $(BUILD) $(or $(RECORDS),20000)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@out=$$(clang-format --dry-run $$(git ls-files '*.c' '*.h') 2>&1); \
	if [ -n "$$out" ]; then echo "$$out" | head -40; \
	  echo "format-check: run 'make format'"; exit 1; fi; \
	echo "format-check: ok"

clean:
	rm -rf $(BUILD)

# Real Apache Kafka for tests: make kafka-deps, make kafka.
include tests/kafka/Makefile.inc
# libFuzzer harnesses: make fuzz-build, make fuzz.
include tests/fuzz/Makefile.inc
# helm for the chart tests (tests/deploy/): make helm-deps.
include helm/Makefile.inc
# The benchmark suite: make bench, make bench-big (bench/README.md).
include bench/Makefile.inc
# The image and the chart on a real cluster: make image, make k8s-test.
include tests/k8s/Makefile.inc
