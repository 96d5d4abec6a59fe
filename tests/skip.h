// skip.h — a test that cannot run here (its data is absent) says so, instead of
// passing without having tested anything: the executable then exits 77, which CTest
// shows as "Skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt). Tests that may skip
// live in their own executables (test_shared_data), so a skip never hides others.
#pragma once
#include <string>

// Records why this test case is skipped; the caller returns from the test case.
void skip_test(const std::string& why);
