"""A self-referential tree walked level by level: the fix names how deep to load."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload

import dbprobe
from dbprobe.database.url import Target
from tests.source_lines import line_of
from tests.user_engine import user_engine

pytestmark = pytest.mark.asyncio

SCHEMA = "dbprobe_treetest"
LEVELS = 3  # root, children, grandchildren, great-grandchildren (the leaves)


class Base(AsyncAttrs, DeclarativeBase):
    pass


class TreeNode(Base):
    __tablename__ = "tree_nodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tree_nodes.id"))
    name: Mapped[str] = mapped_column(String(40))
    children: Mapped[list[TreeNode]] = relationship(order_by="TreeNode.id")


@pytest_asyncio.fixture
async def engine(target: Target) -> AsyncIterator[AsyncEngine]:
    async with user_engine(target, SCHEMA, Base.metadata) as engine:
        async with AsyncSession(engine) as session:

            def grow(name: str, level: int) -> TreeNode:
                node = TreeNode(name=name)
                if level < LEVELS:
                    node.children = [grow(f"{name}.{i}", level + 1) for i in range(2)]
                return node

            session.add(grow("root", 0))
            await session.commit()
        yield engine


async def _walk(node: TreeNode) -> int:
    return 1 + sum([await _walk(child) for child in await node.awaitable_attrs.children])


async def _count_nodes(engine: AsyncEngine, *options: Any) -> tuple[int, dbprobe.Capture]:
    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        query = select(TreeNode).where(TreeNode.parent_id.is_(None)).options(*options)
        (root,) = (await session.scalars(query)).all()
        nodes = await _walk(root)  # one SELECT per node: the N+1
    return nodes, cap


async def test_a_tree_walked_lazily_gets_selectinload_with_the_depth_it_went(
    engine: AsyncEngine,
) -> None:
    nodes, cap = await _count_nodes(engine)
    assert nodes == 15
    assert cap.count == 1 + nodes  # the root, then each node's children
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.relationship == "TreeNode.children"
    assert finding.evidence.location == line_of(
        __file__, "for child in await node.awaitable_attrs.children"
    )
    depth = LEVELS + 1  # the leaves' (empty) children were asked for too
    suggestion = f".options(selectinload(TreeNode.children, recursion_depth={depth}))"
    assert finding.evidence.suggestion == suggestion

    # Applied verbatim, no node is loaded lazily any more: one SELECT per level.
    option = eval(
        suggestion.removeprefix(".options(").removesuffix(")"),
        {"selectinload": selectinload, "TreeNode": TreeNode},
    )
    nodes, fixed = await _count_nodes(engine, option)
    assert nodes == 15
    assert fixed.findings == []
    assert fixed.count <= 1 + depth
    # Plain selectinload, as suggested before, left every level below the first lazy.
    nodes, plain = await _count_nodes(engine, selectinload(TreeNode.children))
    assert plain.count > fixed.count
