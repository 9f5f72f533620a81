# Shared warning and sanitizer settings, applied per target.
function(cf_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
  if(CF_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(CF_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# add_worker(<binary> SOURCES ... LIBS ...): one deployable binary.
function(add_worker name)
  cmake_parse_arguments(W "" "" "SOURCES;LIBS" ${ARGN})
  if(CF_FUZZ)
    add_executable(${name} EXCLUDE_FROM_ALL ${W_SOURCES})
  else()
    add_executable(${name} ${W_SOURCES})
  endif()
  target_link_libraries(${name} PRIVATE ${W_LIBS})
  cf_target_defaults(${name})
endfunction()

# add_cf_test(<name> LABELS ... SOURCES ... LIBS ...): a GoogleTest binary
# registered with CTest under the given labels (unit needs no broker).
function(add_cf_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "LABELS;SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  cf_target_defaults(${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "CF_BIN_DIR=${CMAKE_BINARY_DIR}/bin;CF_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()

set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
