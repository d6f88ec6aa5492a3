# EdgeccModel.cmake — edgecc_add_model(): compile an ONNX model into a library target.
#
#   edgecc_add_model(<target> MODEL <file.onnx>
#                    [NAME <symbol prefix>]      default: <target>
#                    [TARGET <edgecc target>]    default: from the CMake toolchain, else host
#                    [TARGET_FILE <board.xml>]
#                    [DIMS name=N ...]           symbolic dimensions
#                    [OPTIONS ...])              any other edgecc options
#
# <target> is a static library holding the model's object; linking with it adds the
# directory of the generated header <NAME>.h and the edgecc runtime. The object is rebuilt
# when the model, a file it depends on (external data, target file) or the options change.
# Needs the imported targets edgecc::edgecc (the compiler) and edgecc::rt (the runtime).

# The edgecc target matching the CMake toolchain, for cross builds.
function(_edgecc_default_target out)
  set(p "${CMAKE_SYSTEM_PROCESSOR}")
  if(NOT CMAKE_CROSSCOMPILING)
    set(t host)
  elseif(p MATCHES "^(aarch64|arm64)$")
    set(t armv8)
  elseif(p MATCHES "^(armv7|armv7l|armv7-a|arm)$")
    set(t armv7)
  elseif(p MATCHES "^riscv64$")
    set(t riscv64)
  elseif(p MATCHES "^(x86_64|amd64)$")
    set(t x86-64)
  elseif(p MATCHES "^cortex-m4$")
    set(t cortex-m4)
  elseif(p MATCHES "^cortex-m7$")
    set(t cortex-m7)
  else()
    message(FATAL_ERROR "edgecc_add_model: no edgecc target for CMAKE_SYSTEM_PROCESSOR '${p}'; pass TARGET")
  endif()
  set(${out} ${t} PARENT_SCOPE)
endfunction()

function(edgecc_add_model target)
  cmake_parse_arguments(ARG "" "MODEL;NAME;TARGET;TARGET_FILE" "DIMS;OPTIONS" ${ARGN})
  if(NOT ARG_MODEL)
    message(FATAL_ERROR "edgecc_add_model(${target}): MODEL is required")
  endif()
  get_filename_component(model "${ARG_MODEL}" ABSOLUTE)
  set(prefix "${target}")
  if(ARG_NAME)
    set(prefix "${ARG_NAME}")
  endif()
  set(args --name ${prefix})
  if(ARG_TARGET_FILE)
    get_filename_component(tfile "${ARG_TARGET_FILE}" ABSOLUTE)
    list(APPEND args -target-file ${tfile})
  else()
    set(t "${ARG_TARGET}")
    if(NOT t)
      _edgecc_default_target(t)
    endif()
    list(APPEND args -target ${t})
  endif()
  foreach(d IN LISTS ARG_DIMS)
    list(APPEND args --dim ${d})
  endforeach()
  list(APPEND args ${ARG_OPTIONS})
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${target}")
  set(obj "${dir}/${prefix}.o")
  set(hdr "${dir}/${prefix}.h")
  # The options are a dependency too: this file changes (at configure time) only when they do.
  set(flags "${dir}/options.txt")
  file(CONFIGURE OUTPUT "${flags}" CONTENT "${args}\n")
  add_custom_command(
    OUTPUT "${obj}" "${hdr}"
    COMMAND edgecc::edgecc "${model}" ${args} -o "${obj}" -H "${hdr}" -MD -MF "${obj}.d"
    DEPENDS "${model}" "${flags}" edgecc::edgecc
    DEPFILE "${obj}.d"
    COMMENT "edgecc ${ARG_MODEL} -> ${prefix}.o"
    VERBATIM)
  set_source_files_properties("${obj}" PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
  add_library(${target} STATIC "${obj}" "${hdr}")
  set_target_properties(${target} PROPERTIES LINKER_LANGUAGE C)
  target_include_directories(${target} INTERFACE "${dir}")
  target_link_libraries(${target} INTERFACE edgecc::rt m)
endfunction()
