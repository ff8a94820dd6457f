# libFuzzer harnesses (tests/fuzz/fuzz_*.c), built only with
# -DSLUICE_FUZZ=ON and clang, in a tree of their own (`make fuzz` uses
# build-fuzz): every object there is compiled with
# -fsanitize=fuzzer-no-link,address,undefined so the fuzzer sees coverage
# in sluice's code, and each harness links -fsanitize=fuzzer.
# gen_seeds writes the seed corpus (tests/fuzz/corpus).
if (SLUICE_FUZZ)
    if (NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
        message (FATAL_ERROR "SLUICE_FUZZ needs clang: "
                 "cmake -DCMAKE_C_COMPILER=clang -DSLUICE_FUZZ=ON")
    endif ()
    file (GLOB fuzzers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
    foreach (src ${fuzzers})
        get_filename_component (name ${src} NAME_WE)
        add_executable (${name} ${src})
        target_link_libraries (${name} PRIVATE sluice_common)
        target_link_options (${name} PRIVATE -fsanitize=fuzzer)
        set_target_properties (${name} PROPERTIES
            RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
    endforeach ()
    add_executable (gen_seeds ${CMAKE_SOURCE_DIR}/tests/fuzz/gen_seeds.c)
    target_link_libraries (gen_seeds PRIVATE sluice_common)
    set_target_properties (gen_seeds PROPERTIES
        RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
endif ()
