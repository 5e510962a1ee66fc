namespace VectorFit.Transformers.Models;

/// <summary>
/// A checkpoint's tensors do not fit the model its <c>config.json</c> describes: keys the model needs are
/// missing, keys it does not know are present, or shapes differ. The message lists every offender by name.
/// </summary>
public sealed class CheckpointMismatchException : IOException
{
    /// <summary>Builds the exception and its message.</summary>
    /// <param name="path">The weights file.</param>
    /// <param name="missing">Model keys the file lacks.</param>
    /// <param name="unexpected">File keys the model does not have.</param>
    /// <param name="shapeMismatches">One line per key whose shapes differ.</param>
    public CheckpointMismatchException(string path, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> shapeMismatches)
        : base(Describe(path, missing, unexpected, shapeMismatches))
    {
        Path = path;
        Missing = missing;
        Unexpected = unexpected;
        ShapeMismatches = shapeMismatches;
    }

    /// <summary>Builds the exception with a plain message.</summary>
    public CheckpointMismatchException()
        : this(string.Empty, [], [], [])
    {
    }

    /// <summary>Builds the exception with a plain message.</summary>
    /// <param name="message">The message.</param>
    public CheckpointMismatchException(string message)
        : base(message)
    {
        Path = string.Empty;
        Missing = Unexpected = ShapeMismatches = [];
    }

    /// <summary>Builds the exception with a plain message and a cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public CheckpointMismatchException(string message, Exception innerException)
        : base(message, innerException)
    {
        Path = string.Empty;
        Missing = Unexpected = ShapeMismatches = [];
    }

    /// <summary>The weights file.</summary>
    public string Path { get; }

    /// <summary>Model keys the file lacks.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>File keys the model does not have.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>Keys whose shapes differ, each as <c>name: checkpoint [..] vs model [..]</c>.</summary>
    public IReadOnlyList<string> ShapeMismatches { get; }

    private static string Describe(string path, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> shapeMismatches)
    {
        var lines = new List<string> { $"{path} does not match the model config.json describes:" };
        const int Shown = 20;
        void Section(string title, IReadOnlyList<string> items)
        {
            if (items.Count == 0)
            {
                return;
            }

            lines.Add($"  {title} ({items.Count}):");
            lines.AddRange(items.Take(Shown).Select(i => "    " + i));
            if (items.Count > Shown)
            {
                lines.Add($"    … and {items.Count - Shown} more");
            }
        }

        Section("missing from the checkpoint", missing);
        Section("unexpected in the checkpoint", unexpected);
        Section("shape mismatch", shapeMismatches);
        lines.Add("Fix: load the checkpoint folder whose config.json belongs to these weights (same model_type, sizes and layer count).");
        return string.Join(Environment.NewLine, lines);
    }
}
