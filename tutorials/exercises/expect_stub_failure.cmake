# expect_stub_failure.cmake — run by ctest as
#   cmake -DNAME=<exercise> -DPROGRAM=<checker built with the stub> -P expect_stub_failure.cmake
# Passes only when the checker, run on the unfilled stub, exits non-zero AND
# says what is wrong: the array, the element, "yours" against the reference.
# (An exit code alone would also pass a checker that crashed or that fails
# for a reason unrelated to the learner's code.)
set(expected_cross_entropy "WRONG: dL/dlogits is wrong at \\[[0-9], [0-9]\\]: yours 0, central differences ")
set(expected_rms_norm "WRONG: dL/dx is wrong at \\[[0-9], [0-9]\\]: yours 0, central differences .*WRONG: dL/dw is wrong at \\[[0-9]\\]: yours 0, central differences ")
set(expected_softmax "WRONG: dL/dx is wrong at \\[[0-9], [0-9]\\]: yours 0, central differences ")
set(expected_matmul "WRONG: dL/dA is wrong at \\[[0-9], [0-9]\\]: yours 0, central differences .*WRONG: dL/dB is wrong at \\[[0-9], [0-9]\\]: yours 0, central differences ")
set(expected_sinkhorn_step "WRONG: the forward S is wrong at \\[[0-9], [0-9]\\]: yours 0, the engine's sinkhorn\\(logits, 1\\) .*WRONG: dL/dlogits is wrong at \\[[0-9], [0-9]\\]: yours 0, central differences ")
set(expected_mhc_site "WRONG: x_{l\\+1}, your site's output is wrong at \\[[0-9], [0-9], [0-9]\\]: yours 0, layers/ManifoldHyperConnection ")
if(NOT DEFINED expected_${NAME})
  message(FATAL_ERROR "expect_stub_failure: no expected message for exercise '${NAME}'")
endif()

execute_process(COMMAND ${PROGRAM} RESULT_VARIABLE rc OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(rc EQUAL 0)
  message(FATAL_ERROR "exercise_${NAME} passed on the unfilled stub: its checker cannot tell a wrong answer\n${output}")
endif()
if(NOT output MATCHES "exercise_${NAME}: ${expected_${NAME}}.*exercise_${NAME}: FAILED \\(your code: tutorials/exercises/stubs/${NAME}.cpp\\)")
  message(FATAL_ERROR "exercise_${NAME} failed on the stub (exit ${rc}) but without the expected message\n"
                      "  expected (regex): ${expected_${NAME}}\n  got:\n${output}")
endif()
message(STATUS "exercise_${NAME} on the stub: exit ${rc}, and it says what is wrong: ok")
