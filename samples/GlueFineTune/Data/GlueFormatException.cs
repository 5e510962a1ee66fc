namespace GlueFineTune.Data;

/// <summary>A row or header of a GLUE TSV file that does not match the task's layout.</summary>
internal sealed class GlueFormatException : FormatException
{
    /// <summary>Creates the exception; the message starts with <c>{source}, line {lineNumber}:</c>.</summary>
    /// <param name="source">The file.</param>
    /// <param name="lineNumber">The 1-based line.</param>
    /// <param name="problem">What is wrong, what was found and how to fix it.</param>
    public GlueFormatException(string source, int lineNumber, string problem)
        : base($"{source}, line {lineNumber}: {problem}")
    {
        FilePath = source;
        LineNumber = lineNumber;
        Problem = problem;
    }

    /// <summary>The file the row came from.</summary>
    public string FilePath { get; }

    /// <summary>The 1-based line number of the row.</summary>
    public int LineNumber { get; }

    /// <summary>The problem, without the location.</summary>
    public string Problem { get; }
}
