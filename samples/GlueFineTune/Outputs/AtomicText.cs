using System.Text;

namespace GlueFineTune.Outputs;

/// <summary>
/// Writes the sample's text outputs all-or-nothing: to a hidden temporary file beside the target
/// (<c>.NAME.GUID.tmp</c>), flushed to disk, then renamed over it; a kill leaves the old file or the new one. Temporary
/// files a killed write left behind are removed by the next write of the same file (or <see cref="RemoveStale"/>).
/// </summary>
internal static class AtomicText
{
    /// <summary>Writes <paramref name="contents"/> (UTF-8, no byte-order mark) to <paramref name="path"/>, atomically.</summary>
    /// <param name="path">The file to create or replace; its folder must exist.</param>
    /// <param name="contents">The text.</param>
    public static void Write(string path, string contents)
    {
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        RemoveStale(full);
        string temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                byte[] bytes = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(contents);
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>
    /// Removes the temporary files killed writes of <paramref name="path"/> left (<c>.NAME.GUID.tmp</c>, by this class or
    /// by VectorFit's adapter writer). A temporary file another writer still holds open (locked) is left alone.
    /// </summary>
    /// <param name="path">The target file.</param>
    public static void RemoveStale(string path)
    {
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        string name = Path.GetFileName(full);
        if (!Directory.Exists(folder))
        {
            return;
        }

        foreach (string candidate in Directory.EnumerateFiles(folder, $".{name}.*.tmp"))
        {
            string middle = Path.GetFileName(candidate)[(name.Length + 2)..^4];
            if (middle.Length != 32 || !middle.All(Uri.IsHexDigit))
            {
                continue;
            }

            try
            {
                // A live writer holds its temporary file with FileShare.None: opening it exclusively fails then.
                using var probe = new FileStream(candidate, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
                File.Delete(candidate);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // In use, or not ours to delete: leave it.
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the original error matters more.
        }
    }
}
