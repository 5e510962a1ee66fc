using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Surgery;

/// <summary>Where a module is registered: the parent, the name it has there, its position among the parent's children, and its full name.</summary>
/// <param name="Parent">The module that registers it.</param>
/// <param name="Name">Its name in the parent (a field's component name, a list index or a dict key).</param>
/// <param name="Ordinal">Its position in the parent's <c>named_children()</c>.</param>
/// <param name="Path">Its full name, as <c>named_modules()</c> reports it.</param>
internal sealed record ChildSlot(nn.Module Parent, string Name, int Ordinal, string Path);

/// <summary>Walks a module tree the way TorchSharp's <c>named_modules()</c> does, keeping each module's parent.</summary>
internal static class ModuleTree
{
    private const int MaxDepth = 256;

    /// <summary>
    /// Every registered module under <paramref name="root"/> with its slot, in <c>named_modules()</c> order:
    /// a module's direct children first, then, child by child, the same walk inside each. A module registered
    /// in two places appears twice.
    /// </summary>
    public static List<(ChildSlot Slot, nn.Module Module)> Walk(nn.Module root)
    {
        var result = new List<(ChildSlot, nn.Module)>();
        Walk(root, string.Empty, result, 0);
        return result;
    }

    /// <summary>Distinct modules of type <typeparamref name="T"/> among <paramref name="occurrences"/>, each with its first name, in walk order.</summary>
    public static List<(string Name, T Module)> Distinct<T>(IEnumerable<(ChildSlot Slot, nn.Module Module)> occurrences)
        where T : nn.Module
    {
        var seen = new HashSet<nn.Module>(ReferenceEqualityComparer.Instance);
        var result = new List<(string, T)>();
        foreach (var (slot, module) in occurrences)
        {
            if (module is T typed && seen.Add(module))
            {
                result.Add((slot.Path, typed));
            }
        }

        return result;
    }

    private static void Walk(nn.Module parent, string prefix, List<(ChildSlot, nn.Module)> result, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new InvalidOperationException($"The module tree is more than {MaxDepth} levels deep at '{prefix}': it probably contains a cycle (a module registered inside itself).");
        }

        var children = new List<(string Name, nn.Module Module)>();
        foreach (var (name, module) in parent.named_children())
        {
            children.Add((name, module));
        }

        for (var i = 0; i < children.Count; i++)
        {
            result.Add((new ChildSlot(parent, children[i].Name, i, prefix + children[i].Name), children[i].Module));
        }

        foreach (var (name, module) in children)
        {
            Walk(module, prefix + name + ".", result, depth + 1);
        }
    }
}
