# CrossRuntimes.cmake — libedgecc_rt for every cross target whose toolchain works here.
#
# The targets are the target descriptions (targets/*/*.xml): a <toolchain> with a `cmake`
# attribute names its CMake toolchain file (cmake/toolchains/<cmake>.cmake) and the Debian
# packages that bring it. Each toolchain is probed by linking a trivial program
# (cmake/probe-toolchain.sh); one that cannot is skipped with the packages to install, so the
# host build never depends on a cross compiler. The `toolchains` test fails for every skipped
# one, so an incomplete machine cannot pass the test suite.
#
# Sets EDGECC_BUILT_RUNTIMES (targets with a runtime in build/runtimes/<target>/) and
# EDGECC_SKIPPED_RUNTIMES.

# Reads attribute ATTR of the first <ELEMENT ...> in TEXT into OUT ("" when absent).
function(_edgecc_xml_attr out text element attr)
  set(value "")
  if(text MATCHES "<${element}[ \t\r\n][^>]*${attr}=\"([^\"]*)\"")
    set(value "${CMAKE_MATCH_1}")
  endif()
  set(${out} "${value}" PARENT_SCOPE)
endfunction()

function(edgecc_cross_runtimes)
  file(GLOB files ${PROJECT_SOURCE_DIR}/targets/*/*.xml)
  list(SORT files)
  set(built "")
  set(skipped "")
  foreach(file IN LISTS files)
    file(READ ${file} xml)
    _edgecc_xml_attr(name "${xml}" target name)
    _edgecc_xml_attr(toolchain "${xml}" toolchain cmake)
    _edgecc_xml_attr(cc "${xml}" toolchain cc)
    _edgecc_xml_attr(packages "${xml}" toolchain packages)
    if(NOT toolchain)
      continue() # runs with the host's runtime
    endif()
    string(REGEX MATCH "<os>([a-z]+)</os>" _ "${xml}")
    execute_process(COMMAND sh ${PROJECT_SOURCE_DIR}/cmake/probe-toolchain.sh ${cc} ${CMAKE_MATCH_1}
                    OUTPUT_VARIABLE why OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(WARNING "edgecc: skipping the ${name} runtime: ${why}\n"
                      "  install the Debian packages: ${packages} (sh .ci/setup installs them all)")
      list(APPEND skipped ${name})
      continue()
    endif()
    ExternalProject_Add(runtime-${name}
      SOURCE_DIR ${PROJECT_SOURCE_DIR}/runtime
      BINARY_DIR ${CMAKE_BINARY_DIR}/runtimes/${name}
      CMAKE_ARGS -DCMAKE_TOOLCHAIN_FILE=${PROJECT_SOURCE_DIR}/cmake/toolchains/${toolchain}.cmake
                 -DCMAKE_BUILD_TYPE=Release
      BUILD_ALWAYS ON # a no-op when up to date; picks up new runtime sources
      BUILD_BYPRODUCTS ${CMAKE_BINARY_DIR}/runtimes/${name}/libedgecc_rt.a
      INSTALL_COMMAND "")
    list(APPEND built ${name})
  endforeach()
  string(REPLACE ";" " " built_text "${built}")
  message(STATUS "edgecc: cross runtimes: ${built_text}")
  if(skipped)
    string(REPLACE ";" " " skipped_text "${skipped}")
    message(STATUS "edgecc: cross runtimes skipped (toolchain missing): ${skipped_text}")
  endif()
  set(EDGECC_BUILT_RUNTIMES ${built} PARENT_SCOPE)
  set(EDGECC_SKIPPED_RUNTIMES ${skipped} PARENT_SCOPE)
endfunction()
