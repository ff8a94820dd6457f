# Unit tests: each tests/unit/<room>/test_*.c listed below is one Criterion
# binary, linked against the library of its room. Integration tests: every
# tests/integration/test_*.py (globbed: scripts, not build sources, and a
# new one must not be left out by a forgotten line) is one ctest test, run
# with Debian's python3
# (which has python3-confluent-kafka), once per broker kind; test_mock_*.py
# only on the embedded broker; test_real_*.py
# only for the kafka kind.
if (NOT CRITERION_FOUND)
    message (WARNING "Criterion not found: unit tests are not built")
    return ()
endif ()

set (SLUICE_UNIT_common test_flags test_log test_meta test_proto
     test_proto_fast test_proto_batch)
set (SLUICE_UNIT_scheduler test_crash test_dispatch test_failure test_idmap
     test_keys test_marks test_peers
     test_window)
set (SLUICE_UNIT_worker test_keyjob test_lanes test_msg test_plugin
     test_reader test_reassign test_sdk)
foreach (room common scheduler worker)
    foreach (name ${SLUICE_UNIT_${room}})
        set (target unit_${room}_${name})
        add_executable (${target} ${CMAKE_SOURCE_DIR}/tests/unit/${room}/${name}.c)
        target_link_libraries (${target} PRIVATE sluice_flags)
        set_target_properties (${target} PROPERTIES
            RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
        target_link_libraries (${target} PRIVATE PkgConfig::CRITERION)
        target_include_directories (${target} PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit)
        if (room STREQUAL "scheduler")
            target_link_libraries (${target} PRIVATE sluice_sched)
        elseif (room STREQUAL "worker")
            target_link_libraries (${target} PRIVATE sluice_worker)
        else ()
            target_link_libraries (${target} PRIVATE sluice_common)
        endif ()
        target_compile_definitions (${target} PRIVATE
            SLUICE_BUILD_DIR="${CMAKE_BINARY_DIR}"
            SLUICE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
        add_test (NAME ${room}/${name} COMMAND ${target} --jobs 1)
        set_tests_properties (${room}/${name} PROPERTIES LABELS unit TIMEOUT 120)
    endforeach ()
endforeach ()

find_program (SLUICE_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
set (SLUICE_TEST_BROKER_KINDS "embedded" CACHE STRING
     "Broker kinds the integration suite runs on (embedded;kafka)")
file (GLOB itests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_*.py)
foreach (src ${itests})
    get_filename_component (name ${src} NAME_WE)
    foreach (kind ${SLUICE_TEST_BROKER_KINDS})
        # test_real_*.py need what only a real broker has (transactions,
        # compaction, retention, topic configs, Kafka's CLI tools).
        if (name MATCHES "^test_real_" AND NOT kind STREQUAL "kafka")
            continue ()
        endif ()
        # test_mock_*.py inject faults through the embedded broker's control
        # channel (librdkafka's mock API), which a real broker does not have.
        if (name MATCHES "^test_mock_" AND NOT kind STREQUAL "embedded")
            continue ()
        endif ()
        add_test (NAME integration/${kind}/${name}
                  COMMAND ${SLUICE_PYTHON} ${src})
        set_tests_properties (integration/${kind}/${name} PROPERTIES
            LABELS "integration;${kind}" TIMEOUT 300
            ENVIRONMENT "SLUICE_BUILD_DIR=${CMAKE_BINARY_DIR};SLUICE_TEST_BROKER=${kind};PYTHONPATH=${CMAKE_SOURCE_DIR}/tests/integration")
    endforeach ()
endforeach ()

# --- worker plugin fixtures (begin) ---------------------------------------
# Every tests/unit/worker/fixtures/<name>.c is a small plugin, most of them
# deliberately malformed, built as ${CMAKE_BINARY_DIR}/tests/fixtures/<name>.so
# for tests/unit/worker/test_plugin.c. Fixtures named undef_* are linked
# without -Wl,--no-undefined: they test that the loader refuses a plugin with
# an unresolved symbol. abi_v1_1 is compiled against fixtures/abi_v1_1/, a
# frozen copy of the ABI 1.1 header, instead of today's.
set (SLUICE_PLUGIN_FIXTURES abi_major2 abi_v1_0 abi_v1_1 abi_v1_future
     call_context exclusive exclusive_claims_safe headers headers_skipped
     no_entry noname null_process null_table probe small_table
     undef_worker_symbol)
set (SLUICE_PLUGIN_FIXTURE_TARGETS)
foreach (name ${SLUICE_PLUGIN_FIXTURES})
    add_library (fixture_${name} MODULE
                 ${CMAKE_SOURCE_DIR}/tests/unit/worker/fixtures/${name}.c)
    target_link_libraries (fixture_${name} PRIVATE sluice_flags)
    set (include ${CMAKE_SOURCE_DIR}/worker/include)
    if (name STREQUAL "abi_v1_1")
        set (include ${CMAKE_SOURCE_DIR}/tests/unit/worker/fixtures/abi_v1_1)
    endif ()
    target_include_directories (fixture_${name} PRIVATE ${include})
    set_target_properties (fixture_${name} PROPERTIES PREFIX "" OUTPUT_NAME ${name}
        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/fixtures)
    if (NOT name MATCHES "^undef_")
        target_link_options (fixture_${name} PRIVATE -Wl,--no-undefined)
    endif ()
    list (APPEND SLUICE_PLUGIN_FIXTURE_TARGETS fixture_${name})
endforeach ()
if (TARGET unit_worker_test_plugin)
    add_dependencies (unit_worker_test_plugin ${SLUICE_PLUGIN_FIXTURE_TARGETS}
                      ${SLUICE_PLUGINS})
endif ()
# --- worker plugin fixtures (end) -----------------------------------------

# The chaos test, short variant (tests/chaos/chaos.py --short), on every
# broker kind; `make chaos` runs the long one.
foreach (kind ${SLUICE_TEST_BROKER_KINDS})
    add_test (NAME chaos/${kind}
              COMMAND ${SLUICE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/chaos/chaos.py
                      --short --records 200000)
    set_tests_properties (chaos/${kind} PROPERTIES
        LABELS "integration;chaos;${kind}" TIMEOUT 240
        ENVIRONMENT "SLUICE_BUILD_DIR=${CMAKE_BINARY_DIR};SLUICE_TEST_BROKER=${kind};PYTHONPATH=${CMAKE_SOURCE_DIR}/tests/integration")
endforeach ()

# Test tools: hostile peers for the scheduler (tests/tools/*.c), built as
# ${CMAKE_BINARY_DIR}/tests/tools/<name>.
foreach (name flood)
    add_executable (tool_${name} ${CMAKE_SOURCE_DIR}/tests/tools/${name}.c)
    target_link_libraries (tool_${name} PRIVATE sluice_common sluice_flags)
    set_target_properties (tool_${name} PROPERTIES OUTPUT_NAME ${name}
        RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/tools)
endforeach ()

# `sluice demo` end to end (what `make demo` runs), smaller: it must pass
# with nothing lost.
add_test (NAME tools/demo COMMAND ${CMAKE_BINARY_DIR}/bin/sluice demo
          --records 20000 --workers 2 --timeout 120)
set_tests_properties (tools/demo PROPERTIES LABELS "integration;embedded"
                      TIMEOUT 180)

# --- deployment: Dockerfile and Helm chart (begin) ------------------------
# tests/deploy/test_dockerfile.py checks the Dockerfile against this build
# tree (stages, user, and that the runtime image has every shared library
# the binaries and plugins load); tests/deploy/test_chart.py lints and
# renders helm/sluice with the helm that `make helm-deps` fetches
# (SLUICE_HELM). Exit 77 means skipped (e.g. not on Debian 12).
set (SLUICE_HELM "$ENV{HOME}/.cache/sluice-helm/helm" CACHE FILEPATH
     "helm binary for the chart tests (make helm-deps)")
foreach (name dockerfile chart)
    add_test (NAME deploy/${name}
              COMMAND ${SLUICE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/deploy/test_${name}.py)
    set_tests_properties (deploy/${name} PROPERTIES
        LABELS "deploy" TIMEOUT 60 SKIP_RETURN_CODE 77
        ENVIRONMENT "SLUICE_BUILD_DIR=${CMAKE_BINARY_DIR};SLUICE_HELM=${SLUICE_HELM}")
endforeach ()
# --- deployment: Dockerfile and Helm chart (end) --------------------------

# --- docs: ARCHITECTURE's module table names every source file -----------
add_test (NAME docs/architecture
          COMMAND ${SLUICE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/docs/test_architecture.py)
set_tests_properties (docs/architecture PROPERTIES
    LABELS "docs" TIMEOUT 60 SKIP_RETURN_CODE 77)
