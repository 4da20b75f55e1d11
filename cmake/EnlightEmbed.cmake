# enlight_embed_text(<out.cpp> <c-identifier> <file>)
# Writes a source file that defines `extern const char <ident>[]` holding the
# file's text, so the binary needs no data file at run time (profiles, static
# plugins' manifests).
function(enlight_embed_text out ident file)
  file(READ ${file} content)
  string(LENGTH "${content}" len)
  set(body "// Generated from ${file}; edit that file instead.\nextern const char ${ident}[];\nconst char ${ident}[] = R\"enlight_embed(${content})enlight_embed\";\n")
  file(CONFIGURE OUTPUT ${out} CONTENT "${body}" @ONLY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${file})
endfunction()
