#pragma once

#include <pybind11/pybind11.h>

// One registration function per subsystem; module.cpp calls each once.
namespace dnsscience::bindings {

void register_errors(pybind11::module_& module);
void register_dns(pybind11::module_& module);
void register_store(pybind11::module_& module);
void register_tls(pybind11::module_& module);
void register_email(pybind11::module_& module);

}  // namespace dnsscience::bindings
