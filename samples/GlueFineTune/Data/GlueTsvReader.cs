using System.Globalization;
using System.Text;

namespace GlueFineTune.Data;

/// <summary>
/// Reads GLUE's train/dev TSV files. Rows are split on tabs only (quotes are ordinary characters, as in
/// GLUE's MNLI and QQP files). A row with the wrong number of columns, an unknown label or an unparsable
/// score raises a <see cref="GlueFormatException"/> naming the file and line, or, when asked to skip
/// malformed rows, is reported in <see cref="GlueDataset.SkippedRows"/>. Empty lines are ignored.
/// </summary>
internal static class GlueTsvReader
{
    /// <summary>Reads a split of a task from the GLUE data folder.</summary>
    /// <param name="task">The task.</param>
    /// <param name="glueDirectory">The folder holding the task folders (MNLI/, SST-2/, …).</param>
    /// <param name="split">Train or dev.</param>
    /// <param name="skipMalformedRows">Report malformed rows instead of failing on the first one.</param>
    /// <returns>The examples.</returns>
    public static GlueDataset ReadSplit(GlueTask task, string glueDirectory, GlueSplit split, bool skipMalformedRows = false)
    {
        ArgumentNullException.ThrowIfNull(task);
        return Read(task, task.FilePath(glueDirectory, split), skipMalformedRows);
    }

    /// <summary>Reads one TSV file of a task.</summary>
    /// <param name="task">The task.</param>
    /// <param name="path">The file (UTF-8, a byte-order mark is allowed).</param>
    /// <param name="skipMalformedRows">Report malformed rows instead of failing on the first one.</param>
    /// <returns>The examples.</returns>
    public static GlueDataset Read(GlueTask task, string path, bool skipMalformedRows = false)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"GLUE file {path} for {task.Name} does not exist; pass the folder that holds the GLUE task folders "
                + $"({string.Join(", ", GlueTask.All.Select(t => t.FolderName + "/"))}) as downloaded by GLUE's download script.",
                path);
        }

        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Read(task, reader, path, skipMalformedRows);
    }

    /// <summary>Reads TSV text of a task.</summary>
    /// <param name="task">The task.</param>
    /// <param name="reader">The text.</param>
    /// <param name="source">File name used in messages.</param>
    /// <param name="skipMalformedRows">Report malformed rows instead of failing on the first one.</param>
    /// <returns>The examples.</returns>
    public static GlueDataset Read(GlueTask task, TextReader reader, string source, bool skipMalformedRows = false)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(source);
        var examples = new List<GlueExample>();
        var skipped = new List<GlueFormatException>();
        int columnCount = task.MinimumColumnCount;
        int lineNumber = 0;
        string? line;
        if (task.HasHeader)
        {
            line = reader.ReadLine();
            lineNumber = 1;
            columnCount = CheckHeader(task, line, source);
        }

        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            try
            {
                examples.Add(ParseRow(task, line, columnCount, source, lineNumber));
            }
            catch (GlueFormatException ex) when (skipMalformedRows)
            {
                skipped.Add(ex);
            }
        }

        if (examples.Count == 0)
        {
            throw new InvalidDataException(
                $"{source} holds no {task.Name} examples ({lineNumber} lines, {skipped.Count} malformed); pass the task's train or dev TSV.");
        }

        return new GlueDataset(task, source, examples, skipped);
    }

    /// <summary>Parses one data row.</summary>
    /// <param name="task">The task.</param>
    /// <param name="line">The row without its line break.</param>
    /// <param name="columnCount">Columns every row of this file must have.</param>
    /// <param name="source">File name for messages.</param>
    /// <param name="lineNumber">1-based line number for messages.</param>
    /// <returns>The example.</returns>
    internal static GlueExample ParseRow(GlueTask task, string line, int columnCount, string source, int lineNumber)
    {
        string[] columns = line.Split('\t');
        if (columns.Length != columnCount)
        {
            throw new GlueFormatException(source, lineNumber,
                $"expected {columnCount} tab-separated columns for {task.Name} but found {columns.Length}. "
                + "Rows are split on tabs only; repair the row or re-download the GLUE file.");
        }

        string first = columns[task.FirstSentenceColumn];
        string? second = task.SecondSentenceColumn is int s ? columns[s] : null;
        string rawLabel = columns[task.LabelColumn];
        if (task.IsRegression)
        {
            if (!float.TryParse(rawLabel, NumberStyles.Float, CultureInfo.InvariantCulture, out float score)
                || !float.IsFinite(score))
            {
                throw new GlueFormatException(source, lineNumber,
                    $"score \"{rawLabel}\" is not a number; {task.Name} scores are decimals such as 3.8.");
            }

            if (score < task.MinScore || score > task.MaxScore)
            {
                throw new GlueFormatException(source, lineNumber,
                    $"score {rawLabel} is outside [{task.MinScore}, {task.MaxScore}], the range of {task.Name} similarity scores.");
            }

            return GlueExample.Regression(first, second, score, lineNumber);
        }

        for (int id = 0; id < task.LabelNames.Count; id++)
        {
            if (string.Equals(task.LabelNames[id], rawLabel, StringComparison.Ordinal))
            {
                return GlueExample.Classification(first, second, id, lineNumber);
            }
        }

        throw new GlueFormatException(source, lineNumber,
            $"unknown label \"{rawLabel}\" for {task.Name}; expected one of {string.Join(", ", task.LabelNames.Select(l => $"\"{l}\""))}.");
    }

    private static int CheckHeader(GlueTask task, string? header, string source)
    {
        if (header is null)
        {
            throw new GlueFormatException(source, 1, $"the file is empty; a {task.Name} TSV starts with a header line.");
        }

        string[] names = header.TrimStart('\uFEFF').Split('\t');
        if (names.Length < task.MinimumColumnCount)
        {
            throw new GlueFormatException(source, 1,
                $"header has {names.Length} columns but {task.Name} files have at least {task.MinimumColumnCount}; is this the {task.Name} file?");
        }

        foreach (var (column, expected) in task.ExpectedHeader)
        {
            string actual = names[column];
            if (!string.Equals(actual.Trim(), expected, StringComparison.OrdinalIgnoreCase))
            {
                throw new GlueFormatException(source, 1,
                    $"header column {column.GetOffset(names.Length)} is \"{actual}\" but {task.Name} files have \"{expected}\" there; is this the {task.Name} file?");
            }
        }

        return names.Length;
    }
}
