#include "dnsscience/store/connection.hpp"

#include <cctype>
#include <cstdlib>
#include <pqxx/pqxx>
#include <sstream>
#include <utility>

#include "dnsscience/error.hpp"

namespace dnsscience {

struct Connection::Session {
  explicit Session(const std::string& conninfo) : connection(conninfo) {}
  pqxx::connection connection;
};

namespace {

constexpr std::size_t kMaxStatementInMessage = 160;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() &&
        hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Finds the password of a libpq connection URI, either in the user information
// before '@' or as a password= query parameter.
std::string password_in_url(const std::string& url) {
  std::string password;
  const std::size_t authority = url.find("://") + 3;
  const std::size_t authority_end = url.find_first_of("/?", authority);
  const std::size_t at = url.rfind('@', authority_end == std::string::npos ? url.size() - 1
                                                                           : authority_end);
  if (at != std::string::npos && at >= authority) {
    const std::size_t colon = url.find(':', authority);
    if (colon != std::string::npos && colon < at) {
      password = url.substr(colon + 1, at - colon - 1);
    }
  }
  const std::size_t query = url.find('?');
  if (query != std::string::npos) {
    std::size_t begin = query + 1;
    while (begin < url.size()) {
      std::size_t end = url.find('&', begin);
      if (end == std::string::npos) end = url.size();
      const std::string pair = url.substr(begin, end - begin);
      if (pair.rfind("password=", 0) == 0) password = pair.substr(9);
      begin = end + 1;
    }
  }
  return percent_decode(password);
}

// Finds the password of a libpq key=value string. Values may be single-quoted,
// and a backslash escapes the next character.
std::string password_in_keywords(const std::string& conninfo) {
  std::string password;
  std::size_t i = 0;
  const auto skip_space = [&] {
    while (i < conninfo.size() && std::isspace(static_cast<unsigned char>(conninfo[i]))) ++i;
  };
  while (true) {
    skip_space();
    if (i >= conninfo.size()) break;
    std::string keyword;
    while (i < conninfo.size() && conninfo[i] != '=' &&
           !std::isspace(static_cast<unsigned char>(conninfo[i]))) {
      keyword += conninfo[i++];
    }
    skip_space();
    if (i >= conninfo.size() || conninfo[i] != '=') break;
    ++i;
    skip_space();
    std::string value;
    if (i < conninfo.size() && conninfo[i] == '\'') {
      ++i;
      while (i < conninfo.size() && conninfo[i] != '\'') {
        if (conninfo[i] == '\\' && i + 1 < conninfo.size()) ++i;
        value += conninfo[i++];
      }
      ++i;
    } else {
      while (i < conninfo.size() && !std::isspace(static_cast<unsigned char>(conninfo[i]))) {
        if (conninfo[i] == '\\' && i + 1 < conninfo.size()) ++i;
        value += conninfo[i++];
      }
    }
    if (keyword == "password") password = value;
  }
  return password;
}

// Returns the password of a connection string (or of PGPASSWORD when the string
// has none), so that error messages can be scrubbed of it.
std::string password_of(const std::string& conninfo) {
  std::string password;
  if (conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0) {
    password = password_in_url(conninfo);
  } else {
    password = password_in_keywords(conninfo);
  }
  if (password.empty()) {
    if (const char* from_environment = std::getenv("PGPASSWORD")) password = from_environment;
  }
  return password;
}

std::string redact(std::string text, const std::string& password) {
  if (password.empty()) return text;
  for (std::size_t at = text.find(password); at != std::string::npos;
       at = text.find(password, at)) {
    text.replace(at, password.size(), "***");
    at += 3;
  }
  return text;
}

// Joins the ERROR, DETAIL and HINT lines of a server message into one line. The
// LINE and caret lines are dropped because the message shows the statement anyway.
std::string condense(const std::string& message) {
  std::istringstream lines(message);
  std::string line;
  std::string out;
  while (std::getline(lines, line)) {
    if (line.empty() || line.rfind("LINE ", 0) == 0 || line.find('^') != std::string::npos) {
      continue;
    }
    if (!out.empty()) out += ' ';
    out += line;
  }
  return out.empty() ? message : out;
}

std::string shorten_statement(const std::string& sql) {
  std::string flat;
  bool in_space = false;
  for (char c : sql) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (space) {
      if (!in_space && !flat.empty()) flat += ' ';
    } else {
      flat += c;
    }
    in_space = space;
  }
  if (flat.size() > kMaxStatementInMessage) flat = flat.substr(0, kMaxStatementInMessage) + "...";
  return flat;
}

ErrorKind kind_of_sqlstate(const std::string& sqlstate) {
  // 42P01 undefined_table, 42703 undefined_column, 42P10 invalid_column_reference
  // (no unique constraint matches an ON CONFLICT target). Class 22 is data_exception.
  if (sqlstate == "42P01" || sqlstate == "42703" || sqlstate == "42P10") return ErrorKind::schema;
  if (sqlstate.rfind("22", 0) == 0) return ErrorKind::invalid_argument;
  if (sqlstate.rfind("42", 0) == 0) return ErrorKind::internal;
  return ErrorKind::database;
}

bool is_connection_loss(const std::string& sqlstate) {
  // Class 08 is connection exception; 57P01-57P03 are sent by a server that
  // shuts down or restarts.
  return sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

QueryResult to_query_result(const pqxx::result& result) {
  QueryResult out;
  const auto column_count = result.columns();
  out.columns.reserve(column_count);
  for (pqxx::row::size_type column = 0; column < column_count; ++column) {
    out.columns.emplace_back(result.column_name(column));
  }
  out.rows.reserve(result.size());
  for (const auto& row : result) {
    std::vector<std::optional<std::string>> values;
    values.reserve(column_count);
    for (const auto& field : row) {
      if (field.is_null()) {
        values.emplace_back(std::nullopt);
      } else {
        values.emplace_back(std::string(field.c_str(), field.size()));
      }
    }
    out.rows.push_back(std::move(values));
  }
  out.affected_rows = static_cast<std::int64_t>(result.affected_rows());
  return out;
}

// Sends one statement as an unnamed statement (PQexecParams), or through the
// simple query protocol when it has no parameters. Neither creates server-side
// state, because PgBouncer in transaction mode cannot carry it between transactions.
pqxx::result run_statement(pqxx::transaction_base& transaction, const std::string& sql,
                           const SqlParams& params) {
  if (params.empty()) return transaction.exec(sql);
#if PQXX_VERSION_MAJOR >= 7
  pqxx::params values;
  for (const auto& param : params) {
    if (param) {
      values.append(*param);
    } else {
      values.append();
    }
  }
  return transaction.exec_params(sql, values);
#else
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param ? param->c_str() : nullptr);
  return transaction.exec_params(sql, pqxx::prepare::make_dynamic_params(values));
#endif
}

}  // namespace

Connection::Connection(std::string conninfo)
    : conninfo_(std::move(conninfo)), password_(password_of(conninfo_)) {
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    open_locked();
  } catch (const pqxx::failure& error) {
    const std::string message = redact(condense(error.what()), password_);
    // libpq reports a malformed connection string through the same exception as
    // an unreachable server, so only the wording distinguishes them.
    const bool malformed = message.find("connection info string") != std::string::npos ||
                           message.find("URI") != std::string::npos ||
                           message.find("connection option") != std::string::npos;
    if (malformed) {
      throw Error(ErrorKind::configuration, "invalid database connection string: " + message +
                                                "; check DATABASE_URL or the DB_* settings");
    }
    throw Error(ErrorKind::database, "cannot connect to the database: " + message);
  }
}

Connection::~Connection() = default;

void Connection::open_locked() {
  session_ = std::make_unique<Session>(conninfo_);
}

template <typename Work>
auto Connection::run_locked(const char* what, Work&& work) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) {
    throw Error(ErrorKind::invalid_argument,
                std::string("cannot ") + what + ": the database connection is closed");
  }
  std::string current_sql;
  const auto describe = [&](const std::string& detail) {
    return redact(std::string(what) + " failed: " + condense(detail) +
                      " (statement: " + shorten_statement(current_sql) + ")",
                  password_);
  };
  for (int attempt = 0;; ++attempt) {
    try {
      if (!session_) open_locked();
      return work(session_->connection, current_sql);
    } catch (const pqxx::in_doubt_error& error) {
      // The connection broke during COMMIT: the transaction may or may not have
      // been committed, so repeating it could apply it twice.
      session_.reset();
      throw Error(ErrorKind::database, describe(std::string("outcome unknown: ") + error.what()));
    } catch (const pqxx::broken_connection& error) {
      session_.reset();
      if (attempt == 0) continue;
      throw Error(ErrorKind::database, describe(error.what()));
    } catch (const pqxx::sql_error& error) {
      const std::string sqlstate = error.sqlstate();
      const bool lost = is_connection_loss(sqlstate) || !session_->connection.is_open();
      if (lost) {
        session_.reset();
        if (attempt == 0) continue;
      }
      const std::string shown = sqlstate.empty() ? "unknown" : sqlstate;
      throw Error(lost ? ErrorKind::database : kind_of_sqlstate(sqlstate),
                  describe("SQLSTATE " + shown + ": " + error.what()));
    } catch (const pqxx::failure& error) {
      session_.reset();
      throw Error(ErrorKind::database, describe(error.what()));
    } catch (const pqxx::usage_error& error) {
      throw Error(ErrorKind::internal, describe(error.what()));
    } catch (const pqxx::argument_error& error) {
      throw Error(ErrorKind::invalid_argument, describe(error.what()));
    }
  }
}

QueryResult Connection::execute(const std::string& sql, const SqlParams& params) {
  // NOTE: when the connection breaks after the server ran the statement but
  // before the reply arrived, the statement runs a second time on the new
  // connection. Statements sent here must be safe to repeat.
  return run_locked("execute", [&](pqxx::connection& connection, std::string& current_sql) {
    current_sql = sql;
    pqxx::nontransaction transaction(connection);
    QueryResult result = to_query_result(run_statement(transaction, sql, params));
    transaction.commit();
    return result;
  });
}

std::vector<QueryResult> Connection::transaction(const std::vector<Statement>& statements) {
  return run_locked("transaction", [&](pqxx::connection& connection, std::string& current_sql) {
    pqxx::work transaction(connection);
    std::vector<QueryResult> results;
    results.reserve(statements.size());
    for (const auto& statement : statements) {
      current_sql = statement.sql;
      results.push_back(to_query_result(run_statement(transaction, statement.sql, statement.params)));
    }
    transaction.commit();
    return results;
  });
}

void Connection::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  session_.reset();
  closed_ = true;
}

bool Connection::is_open() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !closed_;
}

}  // namespace dnsscience
