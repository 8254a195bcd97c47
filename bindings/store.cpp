#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "dnsscience/store/connection.hpp"
#include "registration.hpp"

namespace py = pybind11;

namespace dnsscience::bindings {

namespace {

py::tuple to_python(const QueryResult& result) {
  py::list columns;
  for (const auto& column : result.columns) columns.append(py::str(column));
  py::list rows;
  for (const auto& row : result.rows) {
    py::tuple values(row.size());
    for (std::size_t i = 0; i < row.size(); ++i) {
      values[i] = row[i] ? py::object(py::str(*row[i])) : py::object(py::none());
    }
    rows.append(std::move(values));
  }
  return py::make_tuple(std::move(columns), std::move(rows), result.affected_rows);
}

std::vector<Statement> to_statements(const py::list& statements) {
  std::vector<Statement> out;
  out.reserve(statements.size());
  for (const auto& item : statements) {
    auto pair = item.cast<std::pair<std::string, SqlParams>>();
    out.push_back(Statement{std::move(pair.first), std::move(pair.second)});
  }
  return out;
}

}  // namespace

void register_store(py::module_& module) {
  py::class_<Connection>(module, "Connection",
                         "A PostgreSQL connection that sends only unnamed statements, so it "
                         "works behind PgBouncer in transaction mode.")
      .def(py::init<std::string>(), py::arg("conninfo"),
           py::call_guard<py::gil_scoped_release>(),
           "Open a connection with a libpq connection string or URL ('' uses PG* variables).")
      .def(
          "execute",
          [](Connection& connection, const std::string& sql, const SqlParams& params) {
            QueryResult result;
            {
              py::gil_scoped_release release;
              result = connection.execute(sql, params);
            }
            return to_python(result);
          },
          py::arg("sql"), py::arg("params") = SqlParams{},
          "Run one statement in autocommit mode with text parameters (None is NULL).\n"
          "Returns (columns, rows, rowcount); rows are tuples of str or None.")
      .def(
          "transaction",
          [](Connection& connection, const py::list& statements) {
            std::vector<Statement> converted = to_statements(statements);
            std::vector<QueryResult> results;
            {
              py::gil_scoped_release release;
              results = connection.transaction(converted);
            }
            py::list out;
            for (const auto& result : results) out.append(to_python(result));
            return out;
          },
          py::arg("statements"),
          "Run [(sql, params), ...] in one transaction; all commit or all roll back.\n"
          "Returns one (columns, rows, rowcount) per statement.")
      .def("close", &Connection::close, py::call_guard<py::gil_scoped_release>(),
           "Close the connection; later calls raise InvalidArgumentError.")
      .def_property_readonly("is_open", &Connection::is_open);
}

}  // namespace dnsscience::bindings
