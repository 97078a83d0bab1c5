// The pipeline's errors and warnings. Every error is one line naming the file it concerns (cli.md): the CLI prints
// it after `error: ` and nothing else.

import Foundation

public struct PipelineError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ message: String) { description = message }

    /// `<file>: <problem>`, the path as the user wrote it.
    public init(file: String, _ problem: String) { description = "\(file): \(problem)" }
}

/// Where the pipeline reports what a user should know but that does not stop a run (skipped images, a picture not
/// written): the CLI prints each as one `warning:` line, whatever `--quiet` says.
public typealias WarningSink = @Sendable (String) -> Void

/// Progress of a long run: images done so far and the total.
public typealias ProgressSink = (_ done: Int, _ total: Int) -> Void

extension Error {
    /// The error's text on one line, without a leading file name when it repeats `file` (errors from lower layers
    /// often name the file themselves).
    func text(about file: String) -> String {
        let text = "\(self)".replacingOccurrences(of: "\n", with: " ")
        let base = (file as NSString).lastPathComponent
        for prefix in [file + ": ", base + ": "] where text.hasPrefix(prefix) { return String(text.dropFirst(prefix.count)) }
        return text
    }
}

/// Runs `body`, giving any error it throws the form `<file>: <problem>` (once, however deep it came from).
public func naming<T>(_ file: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as PipelineError { throw e } catch {
        throw PipelineError(file: file, error.text(about: file))
    }
}
