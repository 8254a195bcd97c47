#include <pybind11/pybind11.h>

#include "registration.hpp"

PYBIND11_MODULE(_core, module) {
  module.doc() = "dnsscience C++ core. Private: import the dnsscience package instead.";
  module.attr("__version__") = DNSSCIENCE_VERSION;
  dnsscience::bindings::register_errors(module);
  dnsscience::bindings::register_dns(module);
  dnsscience::bindings::register_store(module);
  dnsscience::bindings::register_tls(module);
  dnsscience::bindings::register_email(module);
}
