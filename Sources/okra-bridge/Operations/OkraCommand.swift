import ArgumentParser
import Foundation
import OkraClient
import OkraOperations

/// `okra-bridge okra trigger|fetch`: recovery from Okra's side (the contract's §10).
struct OkraCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "okra",
        abstract: "Ask Okra's API to send webhooks again, or fetch the data behind a callback.",
        discussion: "The secret key comes from --secret-file or OKRA_SECRET_KEY only, and is never printed.",
        subcommands: [Trigger.self, Fetch.self]
    )

    /// Which of Okra's environments, where its API is, and the key.
    struct Connection: ParsableArguments {
        @Option(help: "production or sandbox.") var env: String
        @Option(help: "Okra's API base URL (default: Okra's documented one for --env).") var okraBaseUrl: String?
        @Option(help: "A file holding Okra's secret key (its first line); else OKRA_SECRET_KEY.") var secretFile: String?
        @Option(help: "Retries of a 429, a 5xx or a failed connection. Default 5.") var retries: Int = 5

        func endpoint() throws -> OkraClient.Endpoint {
            guard var endpoint = OkraClient.Endpoint.okra(env) else { throw UsageError("--env takes production or sandbox, got \(env)") }
            if let okraBaseUrl {
                guard let url = URL(string: okraBaseUrl), url.scheme == "https" || url.scheme == "http", url.host != nil else {
                    throw UsageError("--okra-base-url takes a URL such as https://api.okra.ng/v2/, got \(okraBaseUrl)")
                }
                endpoint = .init(baseURL: okraBaseUrl, environment: env)
            }
            return endpoint
        }

        func client() throws -> OkraClient {
            let secret: String
            if let secretFile {
                do { secret = try SecretFile.firstLine(secretFile, flag: "--secret-file") } catch { throw UserError("\(error)") }
            } else if let fromEnvironment = ProcessInfo.processInfo.environment["OKRA_SECRET_KEY"], !fromEnvironment.isEmpty {
                secret = fromEnvironment
            } else {
                throw UserError("Okra's secret key is needed: --secret-file FILE or OKRA_SECRET_KEY")
            }
            guard retries >= 0 else { throw UsageError("--retries takes 0 or more") }
            return OkraClient(endpoint: try endpoint(), secret: secret, retry: .init(maxRetries: retries))
        }
    }

    struct Trigger: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask Okra to send these records' webhooks again (POST callback/trigger, 100 records a request)."
        )
        @OptionGroup var connection: Connection
        @Option(name: .customLong("record"), help: "A record id (repeatable).") var records: [String] = []
        @Option(help: "A file of record ids, one a line (- for standard input).") var recordsFile: String?
        @Option(help: "Where Okra sends the webhooks (default: the URL saved in Okra's dashboard).") var url: String?
        @Flag(help: "Print the requests it would send; send nothing.") var dryRun = false

        func run() async throws {
            var ids = records
            if let recordsFile {
                let text = String(decoding: try readInput(recordsFile), as: UTF8.self)
                ids += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
            guard !ids.isEmpty else { throw UsageError("name the records: --record ID (repeatable) or --records-file FILE") }
            let batches = OkraClient.batches(ids)
            let endpoint = try connection.endpoint()
            if dryRun {
                for (index, batch) in batches.enumerated() {
                    print("batch \(index + 1)/\(batches.count): POST \(endpoint.baseURL)callback/trigger \(String(decoding: OkraClient.triggerBody(records: batch, url: url), as: UTF8.self))")
                }
                return
            }
            let client = try connection.client()
            var failed: [String] = []
            for (index, batch) in batches.enumerated() {
                do {
                    let answer = try await client.trigger(records: batch, url: url)
                    print("batch \(index + 1)/\(batches.count): \(batch.count) records: \(answer.status) \(answer.message ?? "")")
                } catch {
                    // A wrong key fails every batch alike: one line, nothing more sent.
                    if case .unauthorized = error { throw UserError(error.description) }
                    print("batch \(index + 1)/\(batches.count): \(batch.count) records: failed: \(error)")
                    failed += batch
                }
            }
            if !failed.isEmpty {
                let shown = failed.prefix(5).joined(separator: ", ") + (failed.count > 5 ? " and \(failed.count - 5) more" : "")
                throw UserError("\(failed.count) records were not triggered: \(shown)")
            }
        }
    }

    struct Fetch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the data behind a callback (GET callback?record=&method=) as JSON.",
            discussion: "--event takes the record and the method from the bridge's event log (the admin listener): the event's product names the method (balance is BALANCE, also for PERIODIC_BALANCE callbacks)."
        )
        @OptionGroup var connection: Connection
        @Option(help: "The record id.") var record: String?
        @Option(help: "The method: AUTH, IDENTITY, ACCOUNTS, BALANCE, TRANSACTIONS, INCOME or PAYMENT.") var method: String?
        @Option(help: "An event id of the event log: its record and product instead of --record and --method.") var event: String?
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            var record = self.record
            var method = self.method
            if let event {
                // The entry that arrived in --env's environment (an id has one per environment).
                let answer = try await admin.client().call("GET", "admin/events/\(event.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? event)",
                                                          query: [("env", connection.env)], as: AdminAPI.Events.self)
                guard let entry = answer.events.first else { throw UserError("event \(event) has no entry in \(connection.env)") }
                record = entry.okrarecord
                guard record != nil else { throw UserError("event \(event) names no record") }
                guard let product = entry.okraproduct, let mapped = OkraClient.callbackMethod(forProduct: product) else {
                    throw UserError("event \(event) is of no product Okra's callback endpoint serves (\(entry.okraproduct ?? "none"))")
                }
                method = mapped
            }
            guard let record, let method else { throw UsageError("name the callback: --record ID --method METHOD, or --event ID") }
            do {
                let data = try await connection.client().fetch(record: record, method: method)
                print(String(decoding: data, as: UTF8.self))
            } catch let failure as OkraClient.Failure {
                throw UserError(failure.description)
            }
        }

    }
}
