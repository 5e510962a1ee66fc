using GlueFineTune.Cli;

namespace GlueFineTune.MultiTask;

/// <summary>A <c>NAME=FILE</c> command-line value: <c>predict --adapter</c> and multi-task <c>--train</c>/<c>--dev</c>.</summary>
/// <param name="Name">The task (adapter) name.</param>
/// <param name="Path">The file.</param>
internal sealed record NamedFile(string Name, string Path)
{
    /// <summary>The longest task name accepted.</summary>
    public const int MaxNameLength = 64;

    /// <summary>Whether <paramref name="value"/> has the <c>NAME=FILE</c> form (a valid name before the first <c>=</c>).</summary>
    /// <param name="value">A command-line value.</param>
    /// <returns>Whether it names a task.</returns>
    public static bool LooksNamed(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        int equals = value.IndexOf('=', StringComparison.Ordinal);
        return equals > 0 && IsValidName(value[..equals]) && !File.Exists(value);
    }

    /// <summary>Whether <paramref name="name"/> is a valid task name: a letter or digit first, then letters, digits, <c>_ - .</c>; at most <see cref="MaxNameLength"/> characters.</summary>
    /// <param name="name">The name.</param>
    /// <returns>Whether it is valid.</returns>
    public static bool IsValidName(string name) =>
        name.Length is > 0 and <= MaxNameLength && char.IsAsciiLetterOrDigit(name[0])
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');

    /// <summary>Parses every value of <paramref name="option"/> as <c>NAME=FILE</c>, with unique names and existing files.</summary>
    /// <param name="values">The values, in command-line order.</param>
    /// <param name="option">The option, for messages (e.g. <c>--adapter</c>).</param>
    /// <param name="example">An example value for the messages, e.g. <c>spam=runs/spam/adapter.safetensors</c>.</param>
    /// <returns>The parsed values, in order.</returns>
    /// <exception cref="UsageException">A value is malformed, a name repeats, or a file does not exist.</exception>
    public static IReadOnlyList<NamedFile> ParseAll(IReadOnlyList<string> values, string option, string example)
    {
        ArgumentNullException.ThrowIfNull(values);
        var result = new List<NamedFile>();
        foreach (string value in values)
        {
            int equals = value.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || equals == value.Length - 1)
            {
                throw new UsageException($"{option} \"{value}\" is not NAME=FILE; write e.g. {option} {example} (one {option} per task).");
            }

            string name = value[..equals];
            string path = value[(equals + 1)..];
            if (!IsValidName(name))
            {
                throw new UsageException($"{option} \"{value}\": the task name \"{name}\" must start with a letter or digit and hold only letters, digits, _ - . (at most {MaxNameLength} characters), e.g. {option} {example}.");
            }

            if (string.Equals(name, VectorFit.Adapters.AdapterBank.BaseName, StringComparison.Ordinal))
            {
                throw new UsageException($"{option} \"{value}\": \"{name}\" is reserved for the base model's row; give the task another name.");
            }

            if (result.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.Ordinal)) is { } earlier)
            {
                throw new UsageException($"{option}: the task name \"{name}\" is given twice ({earlier.Path} and {path}); give each {option} its own name.");
            }

            if (Directory.Exists(path))
            {
                throw new UsageException($"{option} {name}={path} is a folder; pass the file in it (e.g. {System.IO.Path.Combine(path, "adapter.safetensors")} or a .jsonl file).");
            }

            if (!File.Exists(path))
            {
                throw new UsageException($"{option} {name}={path}: the file does not exist.");
            }

            result.Add(new NamedFile(name, path));
        }

        return result;
    }
}
