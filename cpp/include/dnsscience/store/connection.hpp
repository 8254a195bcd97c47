#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace dnsscience {

/// Text parameters of one SQL statement, bound as $1, $2, ...; std::nullopt is SQL NULL.
/// Values are sent as text, so the statement casts them where needed (`$1::int`).
using SqlParams = std::vector<std::optional<std::string>>;

/// One SQL statement and its parameters, for Connection::transaction.
struct Statement {
  std::string sql;
  SqlParams params;
};

/// The result of one statement: column names, rows in text form (NULL as
/// std::nullopt) and the row count from the command tag (rows returned by a
/// SELECT, rows changed by INSERT, UPDATE or DELETE, 0 for other commands).
struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::int64_t affected_rows = 0;
};

/// A PostgreSQL connection (libpqxx) that is safe behind PgBouncer in
/// transaction mode: it sends only unnamed statements and keeps no session state.
///
/// Errors: every failure throws dnsscience::Error, and no message contains the
/// password of the connection string.
/// - ErrorKind::configuration: the connection string cannot be parsed.
/// - ErrorKind::database (retryable): the server is unreachable or the
///   connection broke; the message carries the SQLSTATE where the server sent one.
/// - ErrorKind::schema: a table or column is missing (SQLSTATE 42P01, 42703) or
///   no unique constraint matches an ON CONFLICT target (42P10).
/// - ErrorKind::invalid_argument: a parameter value is invalid for its type (class 22).
/// - ErrorKind::internal: any other SQL error in class 42 (a bug in the statement).
///
/// A connection found broken during a call is reopened, and the call is
/// repeated once on the new connection. Calls are serialized by an internal
/// mutex, so one Connection may be shared between threads, one call at a time.
class Connection {
 public:
  /// Opens a connection with a libpq connection string or URL. An empty string
  /// uses the libpq environment variables (PGHOST, PGPORT, PGUSER, ...).
  explicit Connection(std::string conninfo);
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Runs one statement in autocommit mode. Without parameters the text may contain
  /// several statements separated by semicolons, and the result is the last one's.
  QueryResult execute(const std::string& sql, const SqlParams& params = {});

  /// Runs the statements in one transaction and commits it. On any error the
  /// transaction is rolled back, so none of its changes persist.
  std::vector<QueryResult> transaction(const std::vector<Statement>& statements);

  /// Closes the connection. Later calls throw ErrorKind::invalid_argument.
  void close();

  /// True until close() is called.
  bool is_open() const;

 private:
  struct Session;

  void open_locked();
  template <typename Work>
  auto run_locked(const char* what, Work&& work);

  std::string conninfo_;
  std::string password_;
  std::unique_ptr<Session> session_;
  bool closed_ = false;
  mutable std::mutex mutex_;
};

}  // namespace dnsscience
