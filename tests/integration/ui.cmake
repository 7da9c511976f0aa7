# The dashboard in headless Chromium over WebDriver (chromium, chromium-driver);
# screenshots of each step land in <build>/ui-screenshots/.
stackctl_integration_test(NAME ui_integration_test SRCS integration/ui_test.cc integration/webdriver.cc
                          DEPS CURL::libcurl OpenSSL::Crypto)
target_compile_definitions(ui_integration_test PRIVATE
                           STACKCTL_UI_SCREENSHOT_DIR="${PROJECT_BINARY_DIR}/ui-screenshots")
