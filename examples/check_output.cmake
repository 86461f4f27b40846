# check_output.cmake: runs an example and checks what it prints to stdout; CTest runs it.
#
#   cmake -DPROGRAM=<executable> [-DARGS="<arg> ..."] [-DEMULATOR="<command> ..."]
#         -DCHECKS=<file> -P check_output.cmake
#
# EMULATOR, when given, runs the program (a cross build's qemu-aarch64 -L <sysroot>).
#
# CHECKS holds one check a line. A REGEX is CMake's syntax and must match a whole line.
#   exit N           the program exits with N (without this check: 0)
#   lines N          it prints exactly N lines
#   is K TEXT        line K is exactly TEXT (1 is the first line, -1 the last)
#   line K REGEX     line K matches REGEX
#   count N REGEX    exactly N lines match REGEX
#   every REGEX      every line matches REGEX: a line cut into by another thread's would not
#   order A => B     A and B both occur, and no line matching B comes before one matching A
#
# Examples print from several threads, so checks on them are about counts and causal order,
# never about the exact interleaving. Every failed check is reported, then the whole output.
cmake_minimum_required(VERSION 3.25)

foreach(variable PROGRAM CHECKS)
  if(NOT DEFINED ${variable})
    message(FATAL_ERROR "check_output.cmake: -D${variable}=... is required")
  endif()
endforeach()
separate_arguments(arguments UNIX_COMMAND "${ARGS}")
separate_arguments(emulator UNIX_COMMAND "${EMULATOR}")

execute_process(COMMAND ${emulator} "${PROGRAM}" ${arguments}
  OUTPUT_VARIABLE output ERROR_VARIABLE errors RESULT_VARIABLE exit_code TIMEOUT 120)

# One list element per line. A ';' would split a line in two, so the examples print none.
if(output MATCHES ";")
  message(FATAL_ERROR "${PROGRAM} ${ARGS}: printed a ';', which these checks cannot handle:\n"
                      "${output}")
endif()
string(REGEX REPLACE "\n$" "" trimmed "${output}")
if(trimmed STREQUAL "" AND output STREQUAL "")
  set(lines "")
  set(line_count 0)
else()
  string(REPLACE "\n" ";" lines "${trimmed}")
  list(LENGTH lines line_count)
endif()

# Sets `indexes` to the 0-based positions of the lines that match `regex` in full.
function(matching_lines regex)
  set(found "")
  set(index 0)
  foreach(line IN LISTS lines)
    if(line MATCHES "^(${regex})$")
      list(APPEND found ${index})
    endif()
    math(EXPR index "${index} + 1")
  endforeach()
  set(indexes "${found}" PARENT_SCOPE)
endfunction()

# Sets `line` to line K (1-based, negative counts from the end), or reports it missing.
function(nth_line k)
  if(k GREATER 0)
    math(EXPR index "${k} - 1")
  else()
    math(EXPR index "${line_count} + ${k}")
  endif()
  if(index LESS 0 OR index GREATER_EQUAL line_count)
    set(line "<no line ${k}: the output has ${line_count}>" PARENT_SCOPE)
  else()
    list(GET lines ${index} value)
    set(line "${value}" PARENT_SCOPE)
  endif()
endfunction()

set(expected_exit 0)
set(failures "")
file(STRINGS "${CHECKS}" checks)
foreach(check IN LISTS checks)
  if(check MATCHES "^exit (-?[0-9]+)$")
    set(expected_exit ${CMAKE_MATCH_1})
  elseif(check MATCHES "^lines ([0-9]+)$")
    if(NOT line_count EQUAL CMAKE_MATCH_1)
      list(APPEND failures "${check}: got ${line_count} lines")
    endif()
  elseif(check MATCHES "^is (-?[0-9]+) (.*)$")
    set(text "${CMAKE_MATCH_2}")
    nth_line(${CMAKE_MATCH_1})
    if(NOT line STREQUAL text)
      list(APPEND failures "${check}: got \"${line}\"")
    endif()
  elseif(check MATCHES "^line (-?[0-9]+) (.*)$")
    set(regex "${CMAKE_MATCH_2}")
    nth_line(${CMAKE_MATCH_1})
    if(NOT line MATCHES "^(${regex})$")
      list(APPEND failures "${check}: got \"${line}\"")
    endif()
  elseif(check MATCHES "^count ([0-9]+) (.*)$")
    set(expected_count ${CMAKE_MATCH_1})
    matching_lines("${CMAKE_MATCH_2}")
    list(LENGTH indexes found)
    if(NOT found EQUAL expected_count)
      list(APPEND failures "${check}: ${found} lines match")
    endif()
  elseif(check MATCHES "^every (.*)$")
    set(regex "${CMAKE_MATCH_1}")
    foreach(line IN LISTS lines)
      if(NOT line MATCHES "^(${regex})$")
        list(APPEND failures "${check}: \"${line}\" does not match")
      endif()
    endforeach()
  elseif(check MATCHES "^order (.*) => (.*)$")
    set(second "${CMAKE_MATCH_2}")
    matching_lines("${CMAKE_MATCH_1}")
    set(first_indexes "${indexes}")
    matching_lines("${second}")
    if(first_indexes STREQUAL "" OR indexes STREQUAL "")
      list(APPEND failures "${check}: a side matches no line")
    else()
      list(GET first_indexes -1 last_first)
      list(GET indexes 0 first_second)
      if(last_first GREATER first_second)
        math(EXPR a "${last_first} + 1")
        math(EXPR b "${first_second} + 1")
        list(APPEND failures "${check}: line ${b} comes before line ${a}")
      endif()
    endif()
  elseif(NOT check STREQUAL "")
    message(FATAL_ERROR "check_output.cmake: unknown check \"${check}\"")
  endif()
endforeach()
if(NOT exit_code STREQUAL expected_exit)
  list(APPEND failures "exit ${expected_exit}: the program exited with ${exit_code}")
endif()

if(failures)
  list(JOIN failures "\n  " report)
  message(FATAL_ERROR "${PROGRAM} ${ARGS}: failed checks:\n  ${report}\n"
                      "--- stdout ---\n${output}--- stderr ---\n${errors}")
endif()
message(STATUS "${PROGRAM} ${ARGS}: ${line_count} lines, all checks passed")
