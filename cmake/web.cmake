# The web client and portal (web/, TypeScript): npm ci when the lock file
# changes, then `npm run build` into build/web, which orield serves at /.
find_program(ORIEL_NPM npm)
if(NOT ORIEL_NPM OR NOT EXISTS ${PROJECT_SOURCE_DIR}/web/package.json)
  message(WARNING "npm or web/package.json missing: the web client is not built (run scripts/setup)")
  return()
endif()
set(web_src ${PROJECT_SOURCE_DIR}/web)
set(web_out ${CMAKE_BINARY_DIR}/web)
set(web_modules_stamp ${CMAKE_BINARY_DIR}/web-npm-ci.stamp)
add_custom_command(
  OUTPUT ${web_modules_stamp}
  COMMAND ${ORIEL_NPM} ci --no-audit --no-fund --loglevel=error
  COMMAND ${CMAKE_COMMAND} -E touch ${web_modules_stamp}
  WORKING_DIRECTORY ${web_src}
  DEPENDS ${web_src}/package.json ${web_src}/package-lock.json
  COMMENT "Installing the web client's npm packages")
file(GLOB_RECURSE web_sources CONFIGURE_DEPENDS ${web_src}/src/* ${web_src}/*.html ${web_src}/*.css
     ${web_src}/*.json ${web_src}/*.mjs ${web_src}/*.js)
list(FILTER web_sources EXCLUDE REGEX "/(node_modules|dist)/")
add_custom_command(
  OUTPUT ${web_out}/index.html
  COMMAND ${CMAKE_COMMAND} -E env ORIEL_WEB_OUT=${web_out} ${ORIEL_NPM} run --silent build
  WORKING_DIRECTORY ${web_src}
  DEPENDS ${web_modules_stamp} ${web_sources}
  COMMENT "Building the web client")
add_custom_target(web ALL DEPENDS ${web_out}/index.html)
if(ORIEL_TESTS)
  add_test(NAME web_test COMMAND ${ORIEL_NPM} test --silent WORKING_DIRECTORY ${web_src})
  set_tests_properties(web_test PROPERTIES LABELS unit TIMEOUT 120)
endif()
