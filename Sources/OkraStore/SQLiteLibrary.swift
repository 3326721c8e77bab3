import GRDB

/// The SQLite the store runs on.
public enum SQLiteLibrary {
    /// `sqlite_version()`, e.g. `3.40.1`, read from an in-memory database.
    public static var version: String {
        (try? DatabaseQueue().read { try String.fetchOne($0, sql: "SELECT sqlite_version()") }) ?? "unknown"
    }
}
