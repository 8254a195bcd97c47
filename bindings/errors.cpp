#include <pybind11/pybind11.h>

#include "dnsscience/error.hpp"
#include "registration.hpp"

namespace py = pybind11;

namespace dnsscience::bindings {

namespace {

// Python classes created in register_errors; they live as long as the module.
PyObject* g_root = nullptr;
PyObject* g_invalid_argument = nullptr;
PyObject* g_configuration = nullptr;
PyObject* g_database = nullptr;
PyObject* g_schema = nullptr;

PyObject* make_class(py::module_& module, const char* name, PyObject* bases, const char* doc) {
  const std::string qualified = std::string("dnsscience._core.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (type == nullptr) throw py::error_already_set();
  module.add_object(name, py::handle(type));
  return type;
}

PyObject* class_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument:
      return g_invalid_argument;
    case ErrorKind::configuration:
      return g_configuration;
    case ErrorKind::database:
    case ErrorKind::io:
      return g_database;
    case ErrorKind::schema:
      return g_schema;
    case ErrorKind::internal:
      return g_root;
  }
  return g_root;
}

}  // namespace

void register_errors(py::module_& module) {
  g_root = make_class(module, "DnsScienceError", PyExc_Exception,
                      "Root of every exception raised by dnsscience.");
  py::tuple invalid_bases = py::make_tuple(py::handle(g_root), py::handle(PyExc_ValueError));
  g_invalid_argument = make_class(module, "InvalidArgumentError", invalid_bases.ptr(),
                                  "A value passed by the caller is invalid.");
  g_configuration = make_class(module, "ConfigurationError", g_root,
                               "The configuration or the environment is unusable.");
  g_database = make_class(module, "DatabaseError", g_root,
                          "A database connection or statement failed.");
  py::tuple schema_bases = py::make_tuple(py::handle(g_database));
  g_schema = make_class(module, "SchemaError", schema_bases.ptr(),
                        "The database lacks a table, column or constraint that dnsscience needs.");

  py::register_exception_translator([](std::exception_ptr pointer) {
    if (!pointer) return;
    try {
      std::rethrow_exception(pointer);
    } catch (const Error& error) {
      py::object instance = py::reinterpret_steal<py::object>(
          PyObject_CallFunction(class_for(error.kind()), "s", error.what()));
      if (!instance) throw py::error_already_set();
      instance.attr("kind") = error_kind_name(error.kind());
      instance.attr("retryable") = error.retryable();
      PyErr_SetObject(class_for(error.kind()), instance.ptr());
    }
  });
}

}  // namespace dnsscience::bindings
