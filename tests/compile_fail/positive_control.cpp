// Must compile: every must-fail program of this folder with its one offending line replaced by
// the legal counterpart (CSP_COMPILE_FAIL_CONTROL). It proves that the harness builds programs
// at all and that each must-fail program fails only because of the line it is about, not
// because of a typo or a missing include. Each program's main() is renamed so that they link
// together.
#define CSP_COMPILE_FAIL_CONTROL

#define main receive_on_sender_main
#include "receive_on_sender.cpp"
#undef main

#define main send_on_receiver_main
#include "send_on_receiver.cpp"
#undef main

#define main close_on_receiver_main
#include "close_on_receiver.cpp"
#undef main

#define main range_over_sender_main
#include "range_over_sender.cpp"
#undef main

#define main assign_receiver_to_sender_main
#include "assign_receiver_to_sender.cpp"
#undef main

#define main compare_sender_with_receiver_main
#include "compare_sender_with_receiver.cpp"
#undef main

int main() {
  return receive_on_sender_main() + send_on_receiver_main() + close_on_receiver_main() +
         range_over_sender_main() + assign_receiver_to_sender_main() +
         compare_sender_with_receiver_main();
}
