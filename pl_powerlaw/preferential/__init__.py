"""Internal preferential attachment between two snapshots of a net (paper Sec. 4, eqs. 6-10).

Numerics on count matrices (numpy/scipy): log-spaced degree bins, the attachment kernel
``Pi(k, k')`` and the degree increment ``Delta k(k)``. The count matrices come from
:mod:`pl_powerlaw.connectivity`; the figures are in :mod:`pl_powerlaw.plotting.preferential`.
"""

from pl_powerlaw.preferential.bins import bin_degrees, bin_means, log_degree_bins
from pl_powerlaw.preferential.kernel import (
    AttachmentKernel,
    DegreeIncrement,
    PreferentialAttachment,
    analyze_attachment,
    analyze_attachment_edges,
    attachment_kernel,
    degree_increment,
)
from pl_powerlaw.preferential.lines import LineFit, fit_line

__all__ = [
    "AttachmentKernel",
    "DegreeIncrement",
    "LineFit",
    "PreferentialAttachment",
    "analyze_attachment",
    "analyze_attachment_edges",
    "attachment_kernel",
    "bin_degrees",
    "bin_means",
    "degree_increment",
    "fit_line",
    "log_degree_bins",
]
