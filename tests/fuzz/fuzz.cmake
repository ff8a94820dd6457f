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
    foreach (name fuzz_flags fuzz_meta fuzz_proto)
        add_executable (${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/${name}.c)
        target_link_libraries (${name} PRIVATE sluice_common sluice_flags)
        target_link_options (${name} PRIVATE -fsanitize=fuzzer)
        set_target_properties (${name} PROPERTIES
            RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
    endforeach ()
    add_executable (gen_seeds ${CMAKE_SOURCE_DIR}/tests/fuzz/gen_seeds.c)
    target_link_libraries (gen_seeds PRIVATE sluice_common sluice_flags)
    set_target_properties (gen_seeds PROPERTIES
        RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
endif ()
