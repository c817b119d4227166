# Links every entry of the Python package SRC into DST (the developer stage),
# leaving the compiled _core module that the build put there untouched.
file(GLOB entries RELATIVE "${SRC}" "${SRC}/*")
foreach(entry IN LISTS entries)
  if(entry STREQUAL "__pycache__")
    continue()
  endif()
  if(NOT EXISTS "${DST}/${entry}")
    file(CREATE_LINK "${SRC}/${entry}" "${DST}/${entry}" SYMBOLIC)
  endif()
endforeach()
