# Compiler settings shared by every exportwall target: warnings, sanitizers and ccache.

find_program(EXPORTWALL_CCACHE ccache)
if(EXPORTWALL_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${EXPORTWALL_CCACHE}")
endif()

add_library(exportwall_warnings INTERFACE)
target_compile_options(exportwall_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wold-style-cast -Woverloaded-virtual
  $<$<BOOL:${EXPORTWALL_WERROR}>:-Werror>
  # GCC 12 at -O2 reports Asio's own coroutine-frame allocator (aligned_alloc paired with its
  # matching deallocate) as mismatched new/delete: a known false positive in inlined code.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>)

if(EXPORTWALL_FUZZ)
  # Coverage instrumentation for everything the fuzz targets link; the targets add the driver.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(EXPORTWALL_SANITIZE)
  add_compile_options(-fsanitize=${EXPORTWALL_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${EXPORTWALL_SANITIZE})
  if(EXPORTWALL_SANITIZE MATCHES "thread")
    # -O1: at -O0 the slowest test under ThreadSanitizer took 9 times as long (SubjectSet's
    # 50,000 lookups: 70 s against 8 s); -O1 costs a fifth more compile time and keeps stacks.
    add_compile_options($<$<CONFIG:Debug>:-O1>)
    # GCC 12 warns (-Wtsan) that ThreadSanitizer does not model std::atomic_thread_fence, which
    # Asio's handler bookkeeping uses; with EXPORTWALL_WERROR that warning fails every Asio TU.
    add_compile_options($<$<CXX_COMPILER_ID:GNU>:-Wno-tsan>)
  endif()
endif()

# Profile-guided optimisation (GCC), in two builds: EXPORTWALL_PGO=generate instruments every
# object to count its branches and calls into EXPORTWALL_PGO_DIR when a program exits;
# scripts/pgo-train runs the instrumented exportwall under a workload; EXPORTWALL_PGO=use
# compiles again from those counts (hot paths laid out together and inlined, cold ones apart).
# -fprofile-prefix-path names each object's counts by its path inside the build directory; the
# two builds still share one directory (the presets pgo-generate and pgo), since GCC also checks
# a function's counts against its source file's path, and audit/review_page.cpp is generated in
# the build directory. -fprofile-partial-training: a function the
# workload never ran is optimised as without a profile, not for size. docker/Dockerfile builds
# the image's binary this way; docs/deployment.md, "How the image's binary is built".
set(EXPORTWALL_PGO "" CACHE STRING "Profile-guided optimisation: empty (off), generate or use")
set(EXPORTWALL_PGO_DIR "" CACHE PATH "Where EXPORTWALL_PGO=generate writes its counts and =use reads them")
if(EXPORTWALL_PGO)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    message(FATAL_ERROR "EXPORTWALL_PGO uses GCC's -fprofile-generate/-fprofile-use (the compiler is ${CMAKE_CXX_COMPILER_ID})")
  endif()
  if(NOT EXPORTWALL_PGO_DIR)
    message(FATAL_ERROR "EXPORTWALL_PGO=${EXPORTWALL_PGO} needs EXPORTWALL_PGO_DIR (the profile's directory)")
  endif()
  if(EXPORTWALL_PGO STREQUAL "generate")
    add_compile_options(-fprofile-generate=${EXPORTWALL_PGO_DIR} -fprofile-update=atomic
                        -fprofile-prefix-path=${CMAKE_BINARY_DIR})
    add_link_options(-fprofile-generate=${EXPORTWALL_PGO_DIR})
  elseif(EXPORTWALL_PGO STREQUAL "use")
    if(NOT IS_DIRECTORY "${EXPORTWALL_PGO_DIR}")
      message(FATAL_ERROR "EXPORTWALL_PGO=use: no profile at ${EXPORTWALL_PGO_DIR} (run scripts/pgo-train first)")
    endif()
    # -Wno-missing-profile: the tools built beside exportwall (the demo CRM, the generator) are
    # not trained. A profile from other sources than these still fails (-Wcoverage-mismatch).
    add_compile_options(-fprofile-use=${EXPORTWALL_PGO_DIR} -fprofile-partial-training
                        -fprofile-prefix-path=${CMAKE_BINARY_DIR} -Wno-missing-profile)
  else()
    message(FATAL_ERROR "EXPORTWALL_PGO must be empty, generate or use (is '${EXPORTWALL_PGO}')")
  endif()
endif()

# Adds an exportwall library or executable with the project's warnings and the repository root
# on the include path (includes read `#include "filters/json/json_filter.hpp"`).
function(exportwall_target name)
  target_link_libraries(${name} PRIVATE exportwall_warnings)
  target_include_directories(${name} PUBLIC "${PROJECT_SOURCE_DIR}")
endfunction()
