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

# Adds an exportwall library or executable with the project's warnings and the repository root
# on the include path (includes read `#include "filters/json/json_filter.hpp"`).
function(exportwall_target name)
  target_link_libraries(${name} PRIVATE exportwall_warnings)
  target_include_directories(${name} PUBLIC "${PROJECT_SOURCE_DIR}")
endfunction()
