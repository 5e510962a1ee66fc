namespace VectorFit.Serialization;

/// <summary>
/// Writes a file all-or-nothing: the content goes to a temporary file in the same folder, which is flushed
/// to disk and then renamed over the target, so a crash or an error leaves either the old file or the new
/// one, never half of one.
/// </summary>
internal static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, atomically.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = System.IO.Path.GetFullPath(path);
        var folder = System.IO.Path.GetDirectoryName(full)
            ?? throw new ArgumentException($"'{path}' names no file (it is a root folder).", nameof(path));
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Cannot write '{full}': the folder '{folder}' does not exist. Create it first (Directory.CreateDirectory).");
        }

        RemoveStaleTemporaries(full);
        var temporary = System.IO.Path.Combine(folder, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
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
    /// Removes the temporary files that killed writes of <paramref name="path"/> left behind (<c>.NAME.GUID.tmp</c>). A
    /// temporary file a live writer still holds (opened with <see cref="FileShare.None"/>, which locks it) is left alone.
    /// Best effort: errors are ignored.
    /// </summary>
    public static void RemoveStaleTemporaries(string path)
    {
        try
        {
            var full = System.IO.Path.GetFullPath(path);
            var folder = System.IO.Path.GetDirectoryName(full);
            var name = System.IO.Path.GetFileName(full);
            if (folder is null || name.Length == 0 || !Directory.Exists(folder))
            {
                return;
            }

            foreach (var candidate in Directory.EnumerateFiles(folder, $".{name}.*.tmp"))
            {
                var middle = System.IO.Path.GetFileName(candidate)[(name.Length + 2)..^4];
                if (middle.Length != 32 || !middle.All(Uri.IsHexDigit))
                {
                    continue;
                }

                try
                {
                    using var probe = new FileStream(candidate, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
                    File.Delete(candidate);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // In use by a live writer, or not ours to delete.
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            // Cleaning up is never worth failing the caller's save or load.
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: the original error matters more than a leftover temporary file.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }
}
