// Clean-stop requests: SIGINT/SIGTERM set a flag that the training loop polls between steps.
#pragma once

namespace mor {

void install_stop_handlers();
bool stop_requested();
int stop_signal();  // the signal that asked to stop (0 if none)
void clear_stop_request();

}  // namespace mor
